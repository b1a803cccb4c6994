"""The thin GraphQL layer: types, resolvers, context, error shaping and the ASGI view."""
