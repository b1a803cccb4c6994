"""Profiles, the social graph, posts, comments and likes: rules and use cases, no I/O."""
