// cosmo-kg explorer: plain JavaScript over the GraphQL API (no framework, no network but this server).
"use strict";

const results = document.getElementById("results");
const statusLine = document.getElementById("status");

const NAVIGATE = `query($q: String!) { navigate(query: $q, facets: 8, productsPerFacet: 8) {
  query source facets { relation score intention { text } products { id title productType } } } }`;
const PRODUCT = `query($id: ID!) { product(id: $id) { id title productType domain brand
  intentions(first: 50) { edges { relation plausibility typicality node { text } } }
  coBought(first: 10) { count product { id title } } } }`;
const PHRASE = `query($text: String!) { semanticSearch(text: $text, k: 10) { score
  intention { text tailTypes products(first: 5) { relation product { id title } } } } }`;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function graphql(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
  return body.data;
}

function link(params, text) {
  const href = "?" + new URLSearchParams(params).toString();
  return el("a", { href, "data-nav": "" }, text);
}

function go(params) {
  history.pushState(null, "", "?" + new URLSearchParams(params).toString());
  route();
}

function bar(kind, value) {
  const percent = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return el("div", { class: `bar ${kind}`, role: "meter", "aria-valuemin": "0", "aria-valuemax": "1",
                     "aria-valuenow": value.toFixed(2), "aria-label": `${kind} ${value.toFixed(2)}`,
                     title: `${kind} ${value.toFixed(2)}` },
            el("span", { style: `width: ${percent}%` }));
}

function productItem(product, extra) {
  return el("li", {}, link({ product: product.id }, product.title || product.id),
            extra ? el("span", { class: "score" }, " · ", extra) : null);
}

async function showNavigation(q, facetIndex) {
  const data = await graphql(NAVIGATE, { q });
  const nav = data.navigate;
  const card = el("article", { class: "card", id: "navigation" },
                  el("h2", {}, `Intentions behind “${nav.query}”`),
                  el("p", { class: "meta" }, `${nav.facets.length} facets · answered from ${nav.source}`));
  if (!nav.facets.length) {
    card.append(el("p", {}, "No intentions known for this query."));
    return card;
  }
  const chosen = Math.min(facetIndex, nav.facets.length - 1);
  const facets = el("ul", { class: "facets", "aria-label": "Intention facets" });
  nav.facets.forEach((facet, index) => {
    facets.append(el("li", {}, el("button", {
      type: "button", class: "facet", "aria-pressed": String(index === chosen),
      onclick: () => go({ q, facet: index }),
    }, facet.intention.text, el("span", { class: "score" }, ` ${facet.relation || ""}`))));
  });
  const facet = nav.facets[chosen];
  const products = el("ul", { class: "plain", id: "facet-products",
                              "aria-label": `Products for ${facet.intention.text}` },
                      facet.products.map((p) => productItem(p, p.productType)));
  card.append(facets, el("h3", {}, `Products for “${facet.intention.text}”`), products);
  return card;
}

async function showProduct(id) {
  const data = await graphql(PRODUCT, { id });
  const product = data.product;
  if (!product) return el("article", { class: "card" }, el("p", {}, `No product with id ${id}.`));
  const card = el("article", { class: "card", id: "product" },
                  el("h2", {}, product.title || product.id),
                  el("p", { class: "meta" }, [product.productType, product.domain, product.brand, product.id]
                    .filter(Boolean).join(" · ")));
  const byRelation = new Map();
  for (const edge of product.intentions.edges) {
    if (!byRelation.has(edge.relation)) byRelation.set(edge.relation, []);
    byRelation.get(edge.relation).push(edge);
  }
  card.append(el("p", { class: "legend" }, "bars: plausibility (green), typicality (purple)"));
  if (!byRelation.size) card.append(el("p", {}, "No intentions known for this product."));
  for (const [relation, edges] of byRelation) {
    card.append(el("h3", {}, relation), el("ul", { class: "plain intentions", "aria-label": relation },
      edges.map((e) => el("li", { class: "intention" },
        el("span", { class: "text" }, link({ phrase: e.node.text }, e.node.text)),
        bar("plausibility", e.plausibility), bar("typicality", e.typicality)))));
  }
  card.append(el("h3", {}, "Bought together with"));
  card.append(product.coBought.length
    ? el("ul", { class: "plain", id: "co-bought" },
         product.coBought.map((c) => productItem(c.product, c.count ? `${c.count}×` : null)))
    : el("p", {}, "Nothing recorded."));
  return card;
}

async function showPhrase(text) {
  const data = await graphql(PHRASE, { text });
  const card = el("article", { class: "card", id: "semantic" },
                  el("h2", {}, `Intentions nearest to “${text}”`));
  if (!data.semanticSearch.length) card.append(el("p", {}, "The semantic index is empty."));
  card.append(el("ul", { class: "plain" }, data.semanticSearch.map((hit) => el("li", {},
    el("strong", {}, hit.intention.text), el("span", { class: "score" }, ` ${hit.score.toFixed(3)}`),
    hit.intention.products.length
      ? el("ul", { class: "plain" }, hit.intention.products.map((p) => productItem(p.product, p.relation)))
      : null))));
  return card;
}

async function route() {
  const params = new URLSearchParams(window.location.search);
  const q = params.get("q"), product = params.get("product"), phrase = params.get("phrase");
  document.getElementById("query-input").value = q || "";
  document.getElementById("phrase-input").value = phrase || "";
  document.getElementById("product-input").value = product || "";
  const view = product ? () => showProduct(product)
    : phrase ? () => showPhrase(phrase)
    : q ? () => showNavigation(q, Number(params.get("facet") || 0)) : null;
  results.replaceChildren();
  if (!view) { statusLine.textContent = "Type a query, a phrase or a product id."; return; }
  statusLine.textContent = "Loading…";
  try {
    const card = await view();
    results.replaceChildren(card);
    statusLine.textContent = "";
    document.title = `${card.querySelector("h2").textContent} · cosmo-kg explorer`;
  } catch (error) {
    statusLine.textContent = `Error: ${error.message}`;
  }
}

for (const [form, name] of [["query-form", "q"], ["phrase-form", "phrase"], ["product-form", "product"]]) {
  document.getElementById(form).addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get(name).trim();
    if (value) go({ [name]: value });
  });
}
document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[data-nav]");
  if (!anchor || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  history.pushState(null, "", anchor.getAttribute("href"));
  route();
});
window.addEventListener("popstate", route);
route();
