"""Writing, reading and liking comments through the visibility rules.

A comment is visible when its post is (PostService.get: private accounts, blocks,
deletion) and its author is visible to the viewer (blocks both ways, deleted accounts).
Anything not visible answers NOT_FOUND, the same as a missing id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import Forbidden, NotFound
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page, page_size
from fowergram.domain.social.comments import (
    Comment,
    CommentOrder,
    CommentStore,
    CommentThread,
    NewComment,
    clean_body,
    may_delete,
    thread_parent,
)
from fowergram.domain.social.ports import Standings
from fowergram.domain.social.post_service import PostService
from fowergram.domain.social.posts import Post
from fowergram.domain.social.relationship import Owner, Relationship, can_see_profile

NO_SUCH_COMMENT = "no such comment"


class CommentService:
    def __init__(
        self,
        *,
        store: CommentStore,
        posts: PostService,
        standings: Standings,
    ) -> None:
        self._store = store
        self._posts = posts
        self._standings = standings

    async def add(
        self, viewer: Viewer, post_id: int, body: str, parent_id: int | None = None
    ) -> Comment:
        text = clean_body(body)
        post = await self._posts.get(viewer.user_id, post_id)  # may see it, so may comment
        top: int | None = None
        if parent_id is not None:
            parent = await self._visible(viewer.user_id, parent_id)
            top = thread_parent(parent, post.id)
        event = DomainEvent(
            "comment.created",
            None,  # the store fills in the new comment's id
            {
                "postId": post.id,
                "commentId": None,
                "authorId": viewer.user_id,
                "postAuthorId": post.author_id,
                "parentId": top,
            },
        )
        comment = await self._store.add(NewComment(post.id, viewer.user_id, top, text), event=event)
        if comment is None:  # the post or the parent was deleted meanwhile
            raise NotFound(NO_SUCH_COMMENT if top is not None else "no such post")
        return comment

    async def delete(self, viewer: Viewer, comment_id: int) -> None:
        comment = (await self._store.get_many([comment_id])).get(comment_id)
        if comment is None or comment.deleted:
            raise NotFound(NO_SUCH_COMMENT)
        # The author may always take their words back, even from a post now hidden to them;
        # anyone else must see the post (its owner always does, even a blocked commenter's).
        if comment.author_id != viewer.user_id:
            await self._posts.get(viewer.user_id, comment.post_id)
            if not may_delete(viewer.user_id, comment):
                await self._visible(viewer.user_id, comment.id)  # hidden: NOT_FOUND, not 403
                raise Forbidden("only the comment's author or the post's owner can delete it")
        event = DomainEvent(
            "comment.deleted",
            comment.id,
            {
                "postId": comment.post_id,
                "commentId": comment.id,
                "authorId": comment.author_id,
                "postAuthorId": comment.post_author_id,
                "parentId": comment.parent_id,
                "deletedBy": viewer.user_id,
            },
        )
        if not await self._store.delete(comment, event=event):
            raise NotFound(NO_SUCH_COMMENT)

    async def get(self, viewer_id: int | None, comment_id: int) -> Comment:
        return await self._visible(viewer_id, comment_id)

    async def for_visible_post(
        self,
        viewer_id: int | None,
        post: Post,
        first: int | None,
        after: Key | None,
        order: CommentOrder = CommentOrder.NEWEST,
    ) -> CommentThread:
        """A page of the post's top-level comments the viewer may see. `post` must come
        from a visibility-checked read (PostService), as every GraphQL Post does: the post
        page reads its post once, and its comments with their authors' standing."""
        thread = await self._store.by_post(viewer_id, post.id, order, after, page_size(first))
        shown = _visible_ids(viewer_id, thread.page.items, thread.authors)
        return replace(thread, page=thread.page.keep(lambda comment: comment.id in shown))

    async def replies(
        self, viewer_id: int | None, comment_id: int, first: int | None, after: Key | None
    ) -> Page[Comment]:
        size = page_size(first)
        comment = await self._visible(viewer_id, comment_id)
        page = await self._store.replies(comment.id, after, size)
        return await self._filter_page(viewer_id, page)

    async def like(self, viewer: Viewer, comment_id: int) -> int:
        comment = await self._visible(viewer.user_id, comment_id)
        count = await self._store.like(
            viewer.user_id, comment.id, event=self._like_event("comment.liked", viewer, comment)
        )
        return comment.like_count if count is None else count

    async def unlike(self, viewer: Viewer, comment_id: int) -> int:
        comment = await self._visible(viewer.user_id, comment_id)
        count = await self._store.unlike(
            viewer.user_id, comment.id, event=self._like_event("comment.unliked", viewer, comment)
        )
        return comment.like_count if count is None else count

    async def liked_by_viewer(self, viewer_id: int | None, comment_ids: Sequence[int]) -> set[int]:
        return await self._store.liked(viewer_id, comment_ids) if viewer_id else set()

    @staticmethod
    def _like_event(kind: str, viewer: Viewer, comment: Comment) -> DomainEvent:
        return DomainEvent(
            kind,
            comment.id,
            {"actorId": viewer.user_id, "authorId": comment.author_id, "postId": comment.post_id},
        )

    async def _visible(self, viewer_id: int | None, comment_id: int) -> Comment:
        comment = (await self._store.get_many([comment_id])).get(comment_id)
        if comment is None or comment.deleted:
            raise NotFound(NO_SUCH_COMMENT)
        await self._posts.get(viewer_id, comment.post_id)
        if not await self._shown(viewer_id, [comment]):
            raise NotFound(NO_SUCH_COMMENT)  # the same whether missing, deleted or hidden
        return comment

    async def _shown(self, viewer_id: int | None, comments: Sequence[Comment]) -> set[int]:
        authors = list({comment.author_id for comment in comments})
        standings = await self._standings.standing(viewer_id, authors)
        return _visible_ids(viewer_id, comments, standings)

    async def _filter_page(self, viewer_id: int | None, page: Page[Comment]) -> Page[Comment]:
        # Hidden comments drop out of the page; the cursor still advances past them.
        shown = await self._shown(viewer_id, page.items)
        return page.keep(lambda comment: comment.id in shown)


def _visible_ids(
    viewer_id: int | None,
    comments: Sequence[Comment],
    authors: Mapping[int, tuple[Owner, Relationship]],
) -> set[int]:
    """Ids of the live comments whose authors the viewer may see (blocks, deletions)."""
    return {
        comment.id
        for comment in comments
        if not comment.deleted
        and (standing := authors.get(comment.author_id)) is not None
        and can_see_profile(viewer_id, *standing)
    }
