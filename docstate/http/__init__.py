"""Clients of DocState's HTTP API: :class:`AsyncHttpClient` and :class:`HttpClient`."""

from docstate.http.client import AsyncHttpClient
from docstate.http.sync import HttpClient

__all__ = ["AsyncHttpClient", "HttpClient"]
