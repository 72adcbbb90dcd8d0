"""Settings of the serving layer: the HTTP app, the semantic index and the cache store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cosmo_kg.settings import SettingsGroup, setting


def _positive(group: SettingsGroup, name: str) -> None:
    if getattr(group, name) <= 0:
        raise group.bad_value(name, "use a positive number")


@dataclass(frozen=True)
class ApiSettings(SettingsGroup):
    section = "api"

    host: str = setting("127.0.0.1", "address `cosmo-kg serve` listens on", env="COSMO_API_HOST")
    port: int = setting(8000, "port `cosmo-kg serve` listens on", env="COSMO_API_PORT")
    workers: int = setting(
        1,
        "API processes `cosmo-kg serve` runs on its port, each with its own Neo4j pool and index copy "
        "(1: one process, no supervisor)",
        env="COSMO_API_WORKERS",
    )
    reuse_port: bool = setting(
        True,
        "several workers on Linux: a SO_REUSEPORT socket each, the kernel spreading connections over "
        "them; false: one shared socket, whichever worker is awake accepts (uneven)",
        env="COSMO_API_REUSE_PORT",
    )
    keys_file: str = setting(
        "", "JSON file of hashed API keys (default: <workspace>/api_keys.json)", env="COSMO_API_KEYS_FILE"
    )
    key_hashes: str = setting(
        "",
        "extra API key hashes, comma separated (sha256:HEX), for containers",
        env="COSMO_API_KEY_HASHES",
        secret=True,
    )
    max_depth: int = setting(8, "deepest GraphQL selection accepted", env="COSMO_API_MAX_DEPTH")
    max_tokens: int = setting(
        2000, "largest GraphQL document accepted, in tokens", env="COSMO_API_MAX_TOKENS"
    )
    max_aliases: int = setting(15, "most aliases one GraphQL document may use", env="COSMO_API_MAX_ALIASES")
    max_page_size: int = setting(
        100, "largest `first` / `k` a list field accepts", env="COSMO_API_MAX_PAGE_SIZE"
    )
    request_timeout: float = setting(
        10.0, "seconds before a request is answered 504", env="COSMO_API_REQUEST_TIMEOUT"
    )
    query_timeout: float = setting(
        5.0, "seconds one Neo4j transaction of the API may run", env="COSMO_API_QUERY_TIMEOUT"
    )
    cypher_timeout: float = setting(
        5.0, "seconds a /cypher statement may run", env="COSMO_API_CYPHER_TIMEOUT"
    )
    cypher_row_limit: int = setting(
        1000, "most rows /cypher returns (the rest is cut, flagged)", env="COSMO_API_CYPHER_ROW_LIMIT"
    )
    retry_after: int = setting(
        5, "Retry-After seconds sent with 503 when Neo4j is away", env="COSMO_API_RETRY_AFTER"
    )
    pool_size: int = setting(50, "most Neo4j connections one API worker holds", env="COSMO_API_POOL_SIZE")
    offload_threads: int = setting(
        8,
        "threads for blocking calls (cache store, files) so the event loop keeps serving; unseen "
        "queries are embedded and searched on one more thread per four cores",
        env="COSMO_API_OFFLOAD_THREADS",
    )
    embed_process: bool = setting(
        True,
        "serve: embed unseen queries in a child process (its own GIL, a lower CPU priority), so "
        "cached requests keep their core; false: in a thread of the API process",
        env="COSMO_API_EMBED_PROCESS",
    )
    embed_nice: int = setting(
        10,
        "niceness added to that child process (0-19; higher: it yields the CPU to serving sooner)",
        env="COSMO_API_EMBED_NICE",
    )
    document_cache: int = setting(
        256,
        "parsed and validated GraphQL documents kept by query text (0: off)",
        env="COSMO_API_DOCUMENT_CACHE",
    )
    gc_young_threshold: int = setting(
        10_000,
        "allocations between collections of the garbage collector's young generation (CPython's "
        "700 costs a quarter of a GraphQL request's CPU with 64 requests in flight)",
        env="COSMO_API_GC_YOUNG_THRESHOLD",
    )

    def validate(self) -> None:
        for name in (
            "workers",
            "max_depth",
            "max_tokens",
            "max_aliases",
            "max_page_size",
            "request_timeout",
            "query_timeout",
            "cypher_timeout",
            "cypher_row_limit",
            "pool_size",
            "offload_threads",
            "gc_young_threshold",
        ):
            _positive(self, name)
        if not 0 <= self.embed_nice <= 19:
            raise self.bad_value("embed_nice", "use 0 to 19")
        if self.document_cache < 0:
            raise self.bad_value("document_cache", "use 0 (off) or more")


@dataclass(frozen=True)
class IndexSettings(SettingsGroup):
    section = "index"

    dir: str = setting(
        ".cosmo-kg/index", "directory of the semantic index (FAISS + id map + meta)", env="COSMO_INDEX_DIR"
    )
    kind: str = setting(
        "auto", "auto (flat up to exact_max, ivf above), flat (exact), hnsw or ivf", env="COSMO_INDEX_KIND"
    )
    exact_max: int = setting(
        100_000, "with kind=auto: vectors up to this count use an exact index", env="COSMO_INDEX_EXACT_MAX"
    )
    hnsw_m: int = setting(32, "HNSW graph degree", env="COSMO_INDEX_HNSW_M")
    hnsw_ef_construction: int = setting(64, "HNSW build beam width", env="COSMO_INDEX_HNSW_EF_CONSTRUCTION")
    hnsw_ef_search: int = setting(64, "HNSW search beam width", env="COSMO_INDEX_HNSW_EF_SEARCH")
    ivf_lists: int = setting(0, "IVF inverted lists (0: about 4*sqrt(n))", env="COSMO_INDEX_IVF_LISTS")
    ivf_probe: int = setting(32, "IVF lists probed per query", env="COSMO_INDEX_IVF_PROBE")
    gpu: str = setting("auto", "auto (use faiss-gpu when installed), on or off", env="COSMO_INDEX_GPU")
    query_cache_size: int = setting(10_000, "query embeddings kept in memory", env="COSMO_INDEX_QUERY_CACHE")
    reload_seconds: float = setting(
        5.0,
        "seconds between the API's checks for a new index version (loaded without a restart); 0: never",
        env="COSMO_INDEX_RELOAD_SECONDS",
    )
    search_threads: int = setting(
        1,
        "OpenMP threads of a served FAISS search (one query per request: more threads only contend); "
        "0 = the FAISS default",
        env="COSMO_INDEX_SEARCH_THREADS",
    )

    KINDS = ("auto", "flat", "hnsw", "ivf")

    def validate(self) -> None:
        if self.kind not in self.KINDS:
            raise self.bad_value("kind", f"use one of {', '.join(self.KINDS)}")
        if self.gpu not in ("auto", "on", "off"):
            raise self.bad_value("gpu", "use auto, on or off")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_probe"):
            _positive(self, name)
        if self.reload_seconds < 0:
            raise self.bad_value("reload_seconds", "use 0 (never reload) or a positive number of seconds")
        if self.search_threads < 0:
            raise self.bad_value("search_threads", "use 0 (the FAISS default) or a positive number")

    @property
    def path(self) -> Path:
        return Path(self.dir)


@dataclass(frozen=True)
class CacheSettings(SettingsGroup):
    section = "cache"

    redis_url: str = setting(
        "", "Redis URL of the shared cache store; empty: embedded on-disk store", env="REDIS_URL", secret=True
    )
    path: str = setting(
        ".cosmo-kg/cache.sqlite",
        "file of the embedded store (when REDIS_URL is empty)",
        env="COSMO_CACHE_PATH",
    )
    prefix: str = setting(
        "cosmo:", "key prefix, so several deployments can share one Redis", env="COSMO_CACHE_PREFIX"
    )
    top_intentions: int = setting(
        20, "intentions kept in one cached answer", env="COSMO_CACHE_TOP_INTENTIONS"
    )
    strong_intent: float = setting(
        0.7, "typicality (and product-type share) that flags a strong intent", env="COSMO_CACHE_STRONG_INTENT"
    )
    tier2_ttl: float = setting(
        90_000.0,
        "seconds a tier-2 answer (a batch result or semantic fallback) lives; 0: until replaced",
        env="COSMO_CACHE_TIER2_TTL",
    )
    version_check: float = setting(
        1.0,
        "seconds between background reads of the graph version, which see writers on other hosts "
        "(writers on the API's host are seen by the very next request); 0: every request reads it",
        env="COSMO_CACHE_VERSION_CHECK",
    )

    def validate(self) -> None:
        for name in ("tier2_ttl", "version_check"):
            if getattr(self, name) < 0:
                raise self.bad_value(name, "use 0 or a positive number of seconds")
