"""Writing and reading posts through the visibility rules."""

from __future__ import annotations

from collections.abc import Sequence

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import BadUserInput, Forbidden, NotFound
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page, page_size
from fowergram.domain.social.captions import parse_caption
from fowergram.domain.social.ports import Standings
from fowergram.domain.social.posts import (
    MAX_MEDIA,
    AuthoredPost,
    NewPost,
    Post,
    PostGrid,
    PostStanding,
    PostStore,
)
from fowergram.domain.social.relationship import Owner, Relationship, can_see_content

IDEMPOTENCY_WINDOW_S = 60 * 60
NO_SUCH_POST = "no such post"


class PostService:
    def __init__(self, *, store: PostStore, standings: Standings) -> None:
        self._store = store
        self._standings = standings

    async def create(
        self,
        viewer: Viewer,
        *,
        caption: str,
        media_ids: Sequence[int],
        idempotency_key: str | None,
    ) -> Post:
        facts = parse_caption(caption)
        media = tuple(dict.fromkeys(media_ids))
        if len(media) > MAX_MEDIA:
            raise BadUserInput(f"a post has at most {MAX_MEDIA} media", field="mediaIds")
        if media and await self._store.usable_media(viewer.user_id, media) != set(media):
            raise BadUserInput("media must be your own, uploaded and processed", field="mediaIds")
        if not facts.text and not media:
            raise BadUserInput("a post needs a caption or media", field="caption")
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
            raise BadUserInput("idempotency keys have 1 to 128 characters", field="idempotencyKey")
        new = NewPost(viewer.user_id, facts, media, idempotency_key)
        event = DomainEvent(
            "post.created",
            None,  # the store fills in the new post's id
            {"authorId": viewer.user_id, "hashtags": list(facts.hashtags)},
        )
        post, _created = await self._store.create(
            new, event=event, idempotency_window_s=IDEMPOTENCY_WINDOW_S
        )
        return post

    async def edit(self, viewer: Viewer, post_id: int, caption: str) -> Post:
        post = await self._own_post(viewer, post_id)
        event = DomainEvent("post.edited", post.id, {"authorId": viewer.user_id})
        edited = await self._store.edit(post.id, parse_caption(caption), event=event)
        if edited is None:
            raise NotFound(NO_SUCH_POST)
        return edited

    async def delete(self, viewer: Viewer, post_id: int) -> None:
        post = await self._own_post(viewer, post_id)
        event = DomainEvent("post.deleted", post.id, {"authorId": post.author_id})
        if not await self._store.delete(post.id, event=event):
            raise NotFound(NO_SUCH_POST)

    async def visible(self, viewer_id: int | None, post_ids: Sequence[int]) -> dict[int, Post]:
        posts, authors = await self._store.get_many_with_authors(viewer_id, post_ids)
        return {
            post.id: post
            for post in posts.values()
            if _shown(viewer_id, post.deleted, authors.get(post.author_id))
        }

    async def get(self, viewer_id: int | None, post_id: int) -> Post:
        post = (await self.visible(viewer_id, [post_id])).get(post_id)
        if post is None:
            raise NotFound(NO_SUCH_POST)  # the same whether missing, deleted or hidden
        return post

    async def to_act_on(self, viewer_id: int | None, post_id: int) -> PostStanding:
        """The post's standing, if the viewer may see it (so may like it): NOT_FOUND as
        `get` says it otherwise. One read of what the rule needs, not the post's content."""
        found = await self._store.standing(viewer_id, post_id)
        if found is None or not _shown(viewer_id, found.deleted, (found.owner, found.relationship)):
            raise NotFound(NO_SUCH_POST)
        return found

    async def authored(self, viewer_id: int | None, post_id: int) -> AuthoredPost:
        """`get`, with the author's profile, the viewer's relationship to them and like."""
        found = await self._store.get_authored(viewer_id, post_id)
        if found is None or not _shown(
            viewer_id, found.post.deleted, (found.author.owner, found.relationship)
        ):
            raise NotFound(NO_SUCH_POST)
        return found

    async def by_author(
        self, viewer_id: int | None, author_id: int, first: int | None, after: Key | None
    ) -> PostGrid:
        standing, grid = await self._store.by_author(viewer_id, author_id, after, page_size(first))
        if standing is None or not can_see_content(viewer_id, *standing):
            raise NotFound("no such user")
        return grid

    async def by_hashtag(
        self, viewer_id: int | None, tag: str, first: int | None, after: Key | None
    ) -> Page[Post]:
        page = await self._store.by_hashtag(tag.lstrip("#").strip(), after, page_size(first))
        return await self._filter_page(viewer_id, page)

    async def saved(self, viewer: Viewer, first: int | None, after: Key | None) -> Page[Post]:
        page = await self._store.saved_by(viewer.user_id, after, page_size(first))
        return await self._filter_page(viewer.user_id, page)

    async def save(self, viewer: Viewer, post_id: int) -> Post:
        post = await self.get(viewer.user_id, post_id)
        await self._store.save(viewer.user_id, post.id)
        return post

    async def unsave(self, viewer: Viewer, post_id: int) -> None:
        await self._store.unsave(viewer.user_id, post_id)

    async def _own_post(self, viewer: Viewer, post_id: int) -> Post:
        post = await self.get(viewer.user_id, post_id)
        if post.author_id != viewer.user_id:
            raise Forbidden("only the author can change a post")
        return post

    async def _filter(self, viewer_id: int | None, posts: Sequence[Post]) -> list[Post]:
        authors = list({post.author_id for post in posts})
        standings = await self._standings.standing(viewer_id, authors)
        return [
            post for post in posts if _shown(viewer_id, post.deleted, standings.get(post.author_id))
        ]

    async def _filter_page(self, viewer_id: int | None, page: Page[Post]) -> Page[Post]:
        # Hidden posts drop out of the page; the cursor still advances past them.
        shown = {post.id for post in await self._filter(viewer_id, page.items)}
        return page.keep(lambda post: post.id in shown)


def _shown(viewer_id: int | None, deleted: bool, author: tuple[Owner, Relationship] | None) -> bool:
    """Whether the viewer may see a post (so act on it): not deleted, its author known and
    their content visible to the viewer."""
    return not deleted and author is not None and can_see_content(viewer_id, *author)
