"""Realistic social data for the HTTP benchmark, bulk-loaded with COPY.

Generated in memory from a fixed random seed, then copied table by table, each row with
its counters already right (posts_count, followers_count, following_count, like_count,
comment_count); a final query checks every counter against the rows it counts.

Shape: usernames and full names from common names; follows skewed Zipf-like by a
popularity rank (the most popular accounts are followed by most people, the long tail
by a handful); posts skewed by activity, each with 1-5 media, a caption with hashtags
(Zipf over a vocabulary) and sometimes @mentions; likes grow with the author's audience;
the posts the benchmark reads carry 20-40 comments.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from fowergram.adapters.auth.passwords import Argon2Hasher
from fowergram.config import load_settings

PASSWORD = "fowergram-bench-password"  # every seeded account shares it (and one hash)
NOW = datetime.now(UTC).replace(microsecond=0)


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words("""
olivia liam emma noah amelia oliver sophia elijah mia lucas isabella mateo ava levi
luna james chloe leo sofia ethan aria jack maya hugo lea nina sara ali omar fatima yusuf
zeynep emir aylin mehmet elif hana yuki haruto sakura ren aiko kenji mei wei jun li min
ji seo hyun priya arjun ananya rohan diya kabir isha vikram lucia pablo carmen diego
valentina mateus ana joao beatriz tiago ines marta pedro camila santiago gabriela lars
freja mads ida emil astrid nils sven ingrid anouk daan sanne lotte bram chiara marco
giulia luca francesca paolo elena ivan olga dmitri anya katya sasha chidi amara kofi
ama zara tariq layla noor rami salma youssef kai nia malik imani jamal aaliyah tyler
madison grace henry harper caleb riley nora ezra hazel theo iris jonas clara felix
""")
LAST_NAMES = _words("""
smith johnson garcia martinez rodriguez lopez gonzalez hernandez perez sanchez silva
santos oliveira costa pereira ferreira alves rossi russo ferrari esposito bianchi romano
muller schmidt schneider fischer weber meyer wagner becker hoffmann dubois martin bernard
petit durand leroy moreau nielsen jensen hansen andersen larsen johansson karlsson
nilsson eriksson jansen devries bakker visser kowalski nowak wisniewski ivanov petrov
smirnov popov yilmaz kaya demir sahin celik tanaka suzuki takahashi watanabe ito kim lee
park choi jung wang zhang liu chen yang huang zhao wu zhou patel sharma singh kumar gupta
khan ahmed ali hassan ibrahim okafor adeyemi mensah nkosi dlamini walker young allen
wright scott green baker adams nelson hill campbell mitchell roberts carter phillips
evans turner torres parker collins edwards stewart morris murphy cook rogers morgan
""")
INTERESTS = _words("""
photo photography travels eats food art studio design films fit runs yoga coffee bakes
cooks garden plants books music beats skates surf hikes climbs paints draws makes crafts
style vintage home cats dogs pets wanders lens shots daily life world studio
""")
TAG_WORDS = _words("""
travel food photography sunset nature art fashion fitness love instagood photooftheday
beautiful happy cute style summer beach friends family selfie music followme picoftheday
me smile fun girl boy life instadaily amazing repost dog cat coffee flowers sky foodie
design architecture vintage motivation workout yoga running hiking mountains ocean city
streetphotography portrait blackandwhite film analog travelgram wanderlust adventure
explore sunrise landscape night rain snow autumn spring winter garden plants books
reading cooking baking vegan healthy breakfast dinner pizza sushi wine cocktails gym
interiordesign homedecor diy handmade illustration drawing painting sketch tattoo
makeup skincare hair nails wedding baby kids pets puppy kitty birds wildlife macro
""")
TAG_SUFFIXES = ["", "gram", "life", "lover", "daily", "addict", "photography", "vibes", "time"]
OPENERS = [
    "Golden hour never disappoints",
    "Sunday mornings like this",
    "New work in progress",
    "Can't believe this view",
    "Throwback to the best trip",
    "Finally tried the place everyone talks about",
    "Small things, big joy",
    "Another day at the studio",
    "Weekend plans sorted",
    "First attempt, be kind",
    "This light though",
    "Missing this place already",
    "Homemade and proud of it",
    "Morning run done",
    "Out with the crew",
    "A little corner of the city",
    "Rainy day mood",
    "Still thinking about this meal",
    "Quick sketch before bed",
    "Back where it all started",
]
MIDDLES = [
    "",
    "Shot on film, developed at home.",
    "Swipe for the before and after.",
    "Recipe in the comments if you want it.",
    "Who else has been here?",
    "Three hours of waiting for the perfect moment.",
    "Grateful for days like this.",
    "Tell me your favourite in the comments.",
    "Not edited at all, promise.",
    "The colours were unreal.",
    "Slowly getting better at this.",
    "Took way too many photos again.",
]
EMOJI = ["", "", "", " ✨", " 🌅", " 📸", " ☕", " 🍕", " 🌿", " 💛", " 🔥", " 🙌", " 🏔️", " 🌊"]
BIOS = [
    "📍 {city} | {interest} & coffee",
    "{interest} enthusiast. Opinions are my own.",
    "Living one photo at a time ✨",
    "{city} based {interest} lover",
    "Just here for the {interest}",
    "Making things. Breaking things. {city}.",
    "🌍 {n} countries and counting",
    "Dog person. {interest}. Tea over coffee.",
]
CITIES = _words("Lisbon Berlin Tokyo Lagos Seoul Oslo Istanbul Mumbai Toronto Melbourne Paris")
COMMENTS = [
    "Love this! 😍",
    "Wow, stunning shot",
    "Where is this?",
    "Need the recipe asap",
    "This is so good 🔥",
    "Goals honestly",
    "The colours 🙌",
    "Take me with you next time",
    "Beautiful as always",
    "How did you get this light?",
    "Saving this for later",
    "I was there last summer, magical place",
    "Absolutely gorgeous",
    "You never miss",
    "Okay this made my day",
    "Incredible work, keep going!",
    "😂😂😂",
    "Is this film or digital?",
    "Looks delicious",
    "Obsessed with this",
]


@dataclass(frozen=True)
class SeedSizes:
    users: int = 10_000
    posts: int = 100_000
    viewers: int = 50
    profile_targets: int = 200  # profiles the profile-page scenario reads
    post_targets: int = 500  # posts the post-page scenario reads (20-40 comments each)
    like_pool: int = 500  # posts per likePost pool (one for warm-up, one for measuring)
    random_seed: int = 4


@dataclass
class SeedResult:
    viewers: list[str]
    profile_targets: list[str]
    post_targets: list[int]
    like_pools: tuple[list[int], list[int]]
    usernames: list[str]  # everyone, by id - 1 (for @mentions in new posts)
    hashtags: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    top_followers: list[tuple[str, int]] = field(default_factory=list)


def _zipf_cum_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in range(n)))


def _sample_distinct(rng: random.Random, cum: list[float], k: int, exclude: int) -> set[int]:
    """k distinct ranks drawn by the weights, one draw at a time (so the heavy head is not
    under-represented); gives up after 20k + 100 draws, which only the head can cause."""
    total, chosen, draws = cum[-1], set[int](), 0
    while len(chosen) < k and draws < 20 * k + 100:
        draws += 1
        rank = bisect.bisect_left(cum, rng.random() * total)
        if rank != exclude:
            chosen.add(rank)
    return chosen


class _Generator:
    def __init__(self, sizes: SeedSizes) -> None:
        self.sizes = sizes
        self.rng = random.Random(sizes.random_seed)

    # -- users ---------------------------------------------------------------------------
    def users(self) -> None:
        rng, n = self.rng, self.sizes.users
        names: set[str] = set()
        self.usernames: list[str] = []
        self.full_names: list[str] = []
        while len(self.usernames) < n:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            pattern = rng.randrange(9)
            candidate = [
                f"{first}.{last}",
                f"{first}_{last}",
                f"{first}{last}",
                f"{first}.{last}{rng.randrange(1, 100)}",
                f"{first[0]}{last}",
                f"{first}_{rng.randrange(1970, 2010)}",
                f"the.{first}.{last[:3]}",
                f"{first}.{rng.choice(INTERESTS)}",
                f"{first}{last[0]}_{rng.choice(INTERESTS)}",
            ][pattern][:30]
            if candidate in names:
                continue
            names.add(candidate)
            self.usernames.append(candidate)
            self.full_names.append("" if rng.random() < 0.05 else f"{first.title()} {last.title()}")
        self.private = [rng.random() < 0.03 for _ in range(n)]
        # popularity: rank 0 is the most followed account
        self.rank_of = list(range(n))
        rng.shuffle(self.rank_of)
        self.user_at_rank = [0] * n
        for user, rank in enumerate(self.rank_of):
            self.user_at_rank[rank] = user
        self.user_created = [NOW - timedelta(days=rng.uniform(400, 1500)) for _ in range(n)]

    def user_rows(self, password_hash: str) -> Iterable[tuple[object, ...]]:
        rng = self.rng
        for i, username in enumerate(self.usernames):
            bio = ""
            if rng.random() < 0.6:
                bio = rng.choice(BIOS).format(
                    city=rng.choice(CITIES), interest=rng.choice(INTERESTS), n=rng.randrange(5, 60)
                )
            website = f"https://{username.replace('.', '').replace('_', '')}.example.com"
            yield (
                username,
                f"{username}@example.com",
                password_hash,
                self.full_names[i],
                bio,
                website if rng.random() < 0.2 else None,
                self.private[i],
                self.user_created[i],
                self.followers[i],
                self.following[i],
                self.posts_count[i],
                self.user_created[i],
                self.user_created[i],
            )

    # -- follows -------------------------------------------------------------------------
    def follows(self) -> None:
        rng, n = self.rng, self.sizes.users
        cum = _zipf_cum_weights(n, 1.0)
        self.follow_pairs: list[tuple[int, int]] = []
        self.followers = [0] * n
        self.following = [0] * n
        for user in range(n):
            wanted = min(int(rng.lognormvariate(3.2, 1.0)), 1500, n - 1)
            for rank in _sample_distinct(rng, cum, wanted, self.rank_of[user]):
                followee = self.user_at_rank[rank]
                self.follow_pairs.append((user, followee))
                self.followers[followee] += 1
                self.following[user] += 1

    def follow_rows(self) -> Iterable[tuple[object, ...]]:
        rng = self.rng
        for follower, followee in self.follow_pairs:
            since = max(self.user_created[follower], self.user_created[followee])
            at = since + (NOW - since) * rng.random()
            yield (follower + 1, followee + 1, "accepted", at, at)

    # -- posts, media, hashtags, mentions ------------------------------------------------
    def posts(self) -> None:
        rng, n, count = self.rng, self.sizes.users, self.sizes.posts
        activity = [rng.lognormvariate(0, 1.2) for _ in range(n)]
        for rank in range(min(60, n)):  # popular accounts post a lot
            activity[self.user_at_rank[rank]] *= 6
        self.post_author = rng.choices(range(n), weights=activity, k=count)
        start = NOW - timedelta(days=365)
        offsets = sorted(rng.random() for _ in range(count))
        self.post_created = [start + (NOW - start) * offset for offset in offsets]
        self.posts_count = [0] * n
        for author in self.post_author:
            self.posts_count[author] += 1
        self.latest_posts: dict[int, list[int]] = {}
        for post in range(count - 1, -1, -1):
            latest = self.latest_posts.setdefault(self.post_author[post], [])
            if len(latest) < 12:
                latest.append(post)

        vocabulary = list(dict.fromkeys(w + s for w in TAG_WORDS for s in TAG_SUFFIXES))
        rng.shuffle(vocabulary)
        self.hashtags = vocabulary
        tag_cum = _zipf_cum_weights(len(vocabulary), 1.05)
        self.captions: list[str] = []
        self.post_tags: list[list[int]] = []
        self.post_mentions: list[list[int]] = []
        for author in self.post_author:
            tags = sorted(_sample_distinct(rng, tag_cum, rng.choice((0, 1, 2, 3, 3, 4, 5, 8)), -1))
            mentions = []
            if rng.random() < 0.12:
                mentions = list({rng.randrange(n) for _ in range(rng.choice((1, 1, 2)))} - {author})
            parts = [rng.choice(OPENERS) + rng.choice(EMOJI)]
            if middle := rng.choice(MIDDLES):
                parts.append(middle)
            if mentions:
                parts.append("With " + " ".join("@" + self.usernames[m] for m in mentions))
            if tags:
                parts.append(" ".join("#" + vocabulary[t] for t in tags))
            self.captions.append("\n".join(parts) if rng.random() < 0.3 else " ".join(parts))
            self.post_tags.append(tags)
            self.post_mentions.append(mentions)
        self.media_per_post = [rng.choices((1, 2, 3, 4, 5), (70, 18, 6, 3, 3))[0] for _ in offsets]

    def media_rows(self) -> Iterable[tuple[object, ...]]:
        rng = self.rng
        for post, items in enumerate(self.media_per_post):
            for position in range(items):
                video = rng.random() < 0.08
                yield (
                    self.post_author[post] + 1,
                    "video" if video else "image",
                    "ready",
                    f"seed/{post + 1}/{position}",
                    "video/mp4" if video else "image/jpeg",
                    1080,
                    rng.choice((1080, 1350, 1920)),
                    rng.randrange(150_000, 4_000_000),
                    rng.randrange(3_000, 60_000) if video else None,
                    self.post_created[post],
                    self.post_created[post],
                )

    def post_rows(self) -> Iterable[tuple[object, ...]]:
        for post, author in enumerate(self.post_author):
            at = self.post_created[post]
            yield (
                author + 1,
                self.captions[post],
                len(self.likes[post]),
                self.comment_count[post],
                at,
                at,
            )

    def post_media_rows(self) -> Iterable[tuple[object, ...]]:
        media_id = 0
        for post, items in enumerate(self.media_per_post):
            for position in range(items):
                media_id += 1
                yield (post + 1, media_id, position)

    def post_hashtag_rows(self) -> Iterable[tuple[object, ...]]:
        for post, tags in enumerate(self.post_tags):
            for tag in tags:
                yield (post + 1, tag + 1, self.post_created[post])

    def post_mention_rows(self) -> Iterable[tuple[object, ...]]:
        for post, mentions in enumerate(self.post_mentions):
            for user in mentions:
                yield (post + 1, user + 1, self.post_created[post])

    # -- who the benchmark is, and what it reads -----------------------------------------
    def targets(self) -> None:
        rng, sizes = self.rng, self.sizes
        public = [u for u in range(sizes.users) if not self.private[u]]
        full_grid = [u for u in public if self.posts_count[u] >= 12]
        by_rank = sorted(full_grid, key=lambda u: self.rank_of[u])
        head = by_rank[: min(40, sizes.profile_targets)]
        rest = [u for u in full_grid if u not in set(head)]
        extra = rng.sample(rest, min(len(rest), sizes.profile_targets - len(head)))
        self.profile_targets = head + extra
        taken = set(self.profile_targets)
        candidates = [u for u in public if u not in taken and self.rank_of[u] >= 200]
        self.viewers = rng.sample(candidates, min(sizes.viewers, len(candidates)))
        hot = {p for u in self.profile_targets for p in self.latest_posts.get(u, [])}
        public_posts = [p for p, a in enumerate(self.post_author) if not self.private[a]]
        cold = [p for p in public_posts if p not in hot]
        picked = rng.sample(cold, min(len(cold), sizes.post_targets + 2 * sizes.like_pool))
        self.post_targets = picked[: sizes.post_targets]
        pools = picked[sizes.post_targets :]
        self.like_pools = (pools[: sizes.like_pool], pools[sizes.like_pool :])
        self.hot_posts = hot | set(self.post_targets)

    # -- likes and comments --------------------------------------------------------------
    def likes_and_comments(self) -> None:
        rng, n = self.rng, self.sizes.users
        viewers = set(self.viewers)
        pool_posts = set(self.like_pools[0]) | set(self.like_pools[1])
        self.likes: list[set[int]] = []
        for post, author in enumerate(self.post_author):
            audience = self.followers[author] * rng.uniform(0.01, 0.08)
            wanted = min(int(audience + rng.lognormvariate(0.8, 1.0)), n - 1)
            likers = set(rng.sample(range(n), wanted))
            if post in self.hot_posts:
                likers |= {v for v in self.viewers if rng.random() < 0.3}
            if post in pool_posts:
                likers -= viewers  # the likePost scenario starts from "not liked"
            self.likes.append(likers)

        targets = set(self.post_targets)
        self.comments: list[tuple[int, int, str, datetime]] = []  # post, author, body, at
        self.comment_count = [0] * len(self.post_author)
        for post, created in enumerate(self.post_created):
            if post in targets:
                count = rng.randrange(20, 41)
            else:
                count = min(int(rng.lognormvariate(-1.4, 1.3)), 200)
            at = created
            for _ in range(count):
                at = min(at + timedelta(minutes=rng.expovariate(1 / 90)), NOW)
                body = rng.choice(COMMENTS)
                if rng.random() < 0.2:
                    body = f"@{self.usernames[self.post_author[post]]} {body}"
                self.comments.append((post, rng.randrange(n), body, at))
            self.comment_count[post] = count
        self.comment_likes: list[set[int]] = []
        for post, _author, _body, _at in self.comments:
            if post in targets:
                likers = set(rng.sample(range(n), min(int(rng.lognormvariate(0.3, 1.0)), n)))
                likers |= {v for v in self.viewers if rng.random() < 0.03}
            else:
                likers = set(rng.sample(range(n), min(int(rng.lognormvariate(-1.5, 1.0)), n)))
            self.comment_likes.append(likers)

    def post_like_rows(self) -> Iterable[tuple[object, ...]]:
        rng = self.rng
        for post, likers in enumerate(self.likes):
            created = self.post_created[post]
            for user in likers:
                at = min(created + timedelta(hours=rng.expovariate(0.1)), NOW)
                yield (post + 1, user + 1, at)

    def comment_rows(self) -> Iterable[tuple[object, ...]]:
        for index, (post, author, body, at) in enumerate(self.comments):
            yield (post + 1, author + 1, body, len(self.comment_likes[index]), at, at)

    def comment_like_rows(self) -> Iterable[tuple[object, ...]]:
        for index, likers in enumerate(self.comment_likes):
            at = self.comments[index][3]
            for user in likers:
                yield (index + 1, user + 1, at)


_COPIES: list[tuple[str, str]] = [
    ("users", "username, email, password_hash, full_name, bio, website, is_private, "
     "email_verified_at, followers_count, following_count, posts_count, created_at, updated_at"),
    ("media", "owner_id, kind, status, storage_key, mime_type, width, height, size_bytes, "
     "duration_ms, created_at, updated_at"),
    ("posts", "author_id, caption, like_count, comment_count, created_at, updated_at"),
    ("post_media", "post_id, media_id, position"),
    ("hashtags", "tag"),
    ("post_hashtags", "post_id, hashtag_id, created_at"),
    ("post_mentions", "post_id, user_id, created_at"),
    ("follows", "follower_id, followee_id, status, created_at, accepted_at"),
    ("post_likes", "post_id, user_id, created_at"),
    ("comments", "post_id, author_id, body, like_count, created_at, updated_at"),
    ("comment_likes", "comment_id, user_id, created_at"),
]  # fmt: skip
_IDENTITY_TABLES = ("users", "media", "posts", "hashtags", "comments")

# Every denormalised counter against the rows it counts: each query must return 0.
CONSISTENCY_CHECKS = {
    "users.posts_count": "SELECT count(*) FROM users u WHERE posts_count <> "
    "(SELECT count(*) FROM posts p WHERE p.author_id = u.id AND p.deleted_at IS NULL)",
    "users.followers_count": "SELECT count(*) FROM users u WHERE followers_count <> "
    "(SELECT count(*) FROM follows f WHERE f.followee_id = u.id AND f.status = 'accepted')",
    "users.following_count": "SELECT count(*) FROM users u WHERE following_count <> "
    "(SELECT count(*) FROM follows f WHERE f.follower_id = u.id AND f.status = 'accepted')",
    "posts.like_count": "SELECT count(*) FROM posts p WHERE like_count <> "
    "(SELECT count(*) FROM post_likes l WHERE l.post_id = p.id)",
    "posts.comment_count": "SELECT count(*) FROM posts p WHERE comment_count <> "
    "(SELECT count(*) FROM comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL)",
    "comments.like_count": "SELECT count(*) FROM comments c WHERE like_count <> "
    "(SELECT count(*) FROM comment_likes l WHERE l.comment_id = c.id)",
}


def _password_hash() -> str:
    settings = load_settings()
    hasher = Argon2Hasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    return asyncio.run(hasher.hash(PASSWORD))


def _copy(
    conn: psycopg.Connection[tuple[object, ...]],
    table: str,
    columns: str,
    rows: Iterable[Sequence[object]],
) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(database_url: str, sizes: SeedSizes, *, log: bool = True) -> SeedResult:
    started = time.monotonic()

    def say(message: str) -> None:
        if log:
            print(f"  [{time.monotonic() - started:5.1f}s] {message}", flush=True)

    gen = _Generator(sizes)
    gen.users()
    gen.follows()
    gen.posts()
    gen.targets()
    gen.likes_and_comments()
    password_hash = _password_hash()
    say(
        f"generated {sizes.users} users, {sizes.posts} posts, {len(gen.follow_pairs)} follows, "
        f"{sum(map(len, gen.likes))} likes, {len(gen.comments)} comments"
    )
    row_sources = {
        "users": gen.user_rows(password_hash),
        "media": gen.media_rows(),
        "posts": gen.post_rows(),
        "post_media": gen.post_media_rows(),
        "hashtags": ((tag,) for tag in gen.hashtags),
        "post_hashtags": gen.post_hashtag_rows(),
        "post_mentions": gen.post_mention_rows(),
        "follows": gen.follow_rows(),
        "post_likes": gen.post_like_rows(),
        "comments": gen.comment_rows(),
        "comment_likes": gen.comment_like_rows(),
    }
    rows: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        if conn.execute("SELECT count(*) FROM users").fetchone() != (0,):
            raise SystemExit("the benchmark database is not empty")
        for table, columns in _COPIES:
            rows[table] = _copy(conn, table, columns, row_sources[table])
            say(f"copied {rows[table]:>9,} rows into {table}")
        for table in _IDENTITY_TABLES:
            # ids are taken as 1..n in copy order: the generator's references rely on it
            got = conn.execute(f"SELECT min(id), max(id), count(*) FROM {table}").fetchone()
            assert got == (1, rows[table], rows[table]), (table, got)
        conn.commit()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        for name, query in CONSISTENCY_CHECKS.items():
            row = conn.execute(query).fetchone()
            if row is None or row[0] != 0:
                raise SystemExit(f"seeded counters are inconsistent: {name} ({row})")
        # Not during the measurement (needs the pg_checkpoint role on an external server).
        with contextlib.suppress(psycopg.Error):
            conn.execute("CHECKPOINT")
    say("vacuumed, analysed, counters checked against the rows")
    by_rank = [gen.user_at_rank[rank] for rank in range(min(5, sizes.users))]
    return SeedResult(
        viewers=[gen.usernames[u] for u in gen.viewers],
        profile_targets=[gen.usernames[u] for u in gen.profile_targets],
        post_targets=[p + 1 for p in gen.post_targets],
        like_pools=([p + 1 for p in gen.like_pools[0]], [p + 1 for p in gen.like_pools[1]]),
        usernames=gen.usernames,
        hashtags=gen.hashtags,
        rows=rows,
        seconds=time.monotonic() - started,
        top_followers=[(gen.usernames[u], gen.followers[u]) for u in by_rank],
    )
