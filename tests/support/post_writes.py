"""Posts, likes and comments written through the GraphQL API, answering integer ids (the
form outbox rows and consumers use)."""

from __future__ import annotations

from support.social_helpers import Member


def create_post(author: Member, caption: str = "look") -> int:
    query = "mutation($c: String!) { createPost(input: {caption: $c}) { id } }"
    return int(author.data(query, {"c": caption})["createPost"]["id"])


def like_post(member: Member, post_id: int, mutation: str = "likePost") -> None:
    """`likePost`, or `unlikePost` with `mutation`."""
    member.data(f"mutation($id: ID!) {{ {mutation}(id: $id) {{ likeCount }} }}", {"id": post_id})


def add_comment(member: Member, post_id: int, body: str, parent: int | None = None) -> int:
    query = (
        "mutation($p: ID!, $b: String!, $r: ID) { addComment(postId: $p, body: $b, "
        "parentId: $r) { id } }"
    )
    return int(member.data(query, {"p": post_id, "b": body, "r": parent})["addComment"]["id"])
