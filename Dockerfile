FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY consumers consumers
COPY infra infra
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["csm"]
