from __future__ import annotations

import strawberry

from fowergram.domain.social.search import Hashtag


@strawberry.type(name="Hashtag", description="A hashtag; its posts are `hashtagPosts(tag:)`.")
class HashtagType:
    tag: str = strawberry.field(description="Without '#', in the spelling first used.")

    @classmethod
    def from_domain(cls, hashtag: Hashtag) -> HashtagType:
        return cls(tag=hashtag.tag)
