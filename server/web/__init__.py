"""Web layer: the app, middleware, guard, rendering and the views.

The only package that imports Starlette; everything below it works without HTTP."""
