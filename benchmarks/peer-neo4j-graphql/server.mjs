// The peer of `bench_api.py --peer`: the cosmo-kg graph served by Neo4j's own GraphQL library
// (@neo4j/graphql in Apollo Server), with type definitions written by the benchmark from the
// relation vocabulary. Configured by environment: PEER_TYPEDEFS (a .graphql file), PEER_PORT,
// NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE.
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { Neo4jGraphQL } from "@neo4j/graphql";
import neo4j from "neo4j-driver";

const env = process.env;
const driver = neo4j.driver(
  env.NEO4J_URI ?? "bolt://127.0.0.1:7687",
  neo4j.auth.basic(env.NEO4J_USER ?? "neo4j", env.NEO4J_PASSWORD ?? ""),
  { maxConnectionPoolSize: 50 },
);
const typeDefs = readFileSync(env.PEER_TYPEDEFS, "utf8");
const schema = await new Neo4jGraphQL({ typeDefs, driver }).getSchema();
const server = new ApolloServer({ schema, introspection: false });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(env.PEER_PORT ?? 4000), host: "127.0.0.1" },
  context: async () => ({ sessionConfig: { database: env.NEO4J_DATABASE ?? "neo4j" } }),
});
console.log(`peer ready at ${url}`);
