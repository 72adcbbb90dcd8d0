// cosmo-kg graph schema (Neo4j 5). Applied by `cosmo-kg graph init`; every statement is
// idempotent (IF NOT EXISTS), so applying it again changes nothing.

// Keys: the loader MERGEs on these, so each needs a uniqueness constraint (and its index).
CREATE CONSTRAINT product_id IF NOT EXISTS FOR (p:Product) REQUIRE p.product_id IS UNIQUE;
CREATE CONSTRAINT query_text IF NOT EXISTS FOR (q:Query) REQUIRE q.text IS UNIQUE;
CREATE CONSTRAINT intention_text IF NOT EXISTS FOR (i:Intention) REQUIRE i.text IS UNIQUE;
CREATE CONSTRAINT domain_name IF NOT EXISTS FOR (d:Domain) REQUIRE d.name IS UNIQUE;
CREATE CONSTRAINT product_type_name IF NOT EXISTS FOR (t:ProductType) REQUIRE t.name IS UNIQUE;
CREATE CONSTRAINT load_run_id IF NOT EXISTS FOR (l:LoadRun) REQUIRE l.load_id IS UNIQUE;

// Filters the API and the saved queries use. The full-text indexes are updated after commit
// (eventually consistent) so that bulk loads do not wait on Lucene; a load ends with a refresh.
CREATE INDEX product_domain IF NOT EXISTS FOR (p:Product) ON (p.domain);
// The graph version (graph/version.py) is the newest completed write run: a seek on this index.
CREATE INDEX load_run_completed IF NOT EXISTS FOR (l:LoadRun) ON (l.completed_at);
CREATE INDEX product_type IF NOT EXISTS FOR (p:Product) ON (p.product_type);
CREATE FULLTEXT INDEX intention_text_fulltext IF NOT EXISTS FOR (i:Intention) ON EACH [i.text]
  OPTIONS {indexConfig: {`fulltext.eventually_consistent`: true}};
CREATE FULLTEXT INDEX product_title_fulltext IF NOT EXISTS FOR (p:Product) ON EACH [p.title]
  OPTIONS {indexConfig: {`fulltext.eventually_consistent`: true}};
