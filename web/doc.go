// Package web serves Touchpoint over HTTP: the JSON API under /api/v1, the
// health and metrics endpoints and (later) the server-rendered UI. Handlers
// are thin: bind, validate, call the store, render. Authentication and role
// checks happen here, on the server, for every route.
package web
