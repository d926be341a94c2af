// Package web serves Touchpoint over HTTP: the JSON API under /api/v1, the
// health and metrics endpoints and the server-rendered UI (api_*.go and
// ui_*.go, one file per resource; templates and static files embedded).
// Handlers are thin: bind, validate, call the store, render.
// Authentication (bearer tokens, web sessions), CSRF protection and role
// checks happen here, on the server, for every route.
package web
