# DocState's application image: the worker, the HTTP API and the CLI, from one image.
#   docker build -t docstate .
#   docker run --rm docstate --help
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 docstate
WORKDIR /app

# The library first (its layer changes less often than the pipelines), with the exact
# package set the tests ran with: constraints.txt, written by scripts/lock.
COPY pyproject.toml README.md constraints.txt ./
COPY docstate ./docstate
RUN pip install -c constraints.txt .

# The application: its pipelines (workflows/) and their functions (activities/). The
# worker finds them as the `workflows` package of the working directory.
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py starter.py ./

USER docstate
ENTRYPOINT ["docstate"]
CMD ["worker"]
