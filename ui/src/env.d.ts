// The page runs in a browser: its files see the DOM's types (the rest of the repo is Node's).
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
