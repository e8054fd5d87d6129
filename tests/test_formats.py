"""Named-format importers, each on a small fixture written in its real format."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pairrank.data.formats import amazon, goodbooks, lastfm, mind, movielens, sql
from pairrank.data.importers import load_dataset
from pairrank.data.interactions import ColumnMap
from pairrank.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
ML_SMALL = [ROOT.parent / "shared" / "datasets" / "ml-latest-small", ROOT / "datasets" / "ml-latest-small"]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def item(frame: pd.DataFrame, item_id: str) -> dict:
    rows = frame[frame["item_id"] == item_id]
    assert len(rows) == 1, f"item {item_id} appears {len(rows)} times"
    return rows.iloc[0].to_dict()


def assert_plain_text(items: pd.DataFrame) -> None:
    for column in items.columns:
        assert not items[column].isna().any(), column
        assert all(isinstance(v, str) for v in items[column]), column


# --- MovieLens ----------------------------------------------------------------


def ml_100k(root: Path) -> Path:
    write(root / "u.data", "1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n")
    flags_10 = "|".join("1" if g in ("Animation", "Children's", "Comedy") else "0" for g in movielens.GENRES_100K)
    flags_20 = "|".join("1" if g == "Film-Noir" else "0" for g in movielens.GENRES_100K)
    write(
        root / "u.item",
        f"10|Café Society (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Caf%E9|{flags_10}\n"
        f'20|"Great" Noir (1946)|01-Jan-1946||http://us.imdb.com/x|{flags_20}\n',
        "latin-1",
    )
    write(root / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    return root


def test_movielens_100k(tmp_path: Path) -> None:
    data = movielens.load(ml_100k(tmp_path))
    frame = data.interactions
    assert list(frame.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert frame["user_id"].tolist() == ["1", "1", "2"]
    assert frame["timestamp"].tolist() == [881250949, 881250950, 881250951]
    assert frame["rating"].tolist() == [4.0, 3.0, 5.0]
    assert item(data.items, "10") == {
        "item_id": "10", "title": "Café Society (1995)", "genres": "Animation, Children's, Comedy", "tags": "",
    }  # fmt: skip
    assert item(data.items, "20")["title"] == '"Great" Noir (1946)'
    assert item(data.items, "20")["genres"] == "Film-Noir"
    assert data.users["gender"].tolist() == ["M", "F"]
    assert_plain_text(data.items)


def ml_1m(root: Path) -> Path:
    write(root / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(
        root / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        '3303::"Great Performances" Cats (1998)::Musical\n'
        "2::Misérables, Les (1995)::Drama|Musical\n",
        "latin-1",
    )
    write(root / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return root


def test_movielens_1m(tmp_path: Path) -> None:
    data = movielens.load(ml_1m(tmp_path))
    assert len(data.interactions) == 3
    assert data.interactions["item_id"].tolist() == ["1193", "661", "1193"]
    assert data.interactions["timestamp"].tolist() == [978300760, 978302109, 978298413]
    assert item(data.items, "661")["genres"] == "Animation, Children's, Musical"
    assert item(data.items, "3303")["title"] == '"Great Performances" Cats (1998)'
    assert item(data.items, "2")["title"] == "Misérables, Les (1995)"
    users = data.users.set_index("user_id")
    assert users.loc["1"].tolist() == ["F", "Under 18", "K-12 student"]
    assert users.loc["2"].tolist() == ["M", "56+", "self-employed"]
    assert_plain_text(data.items)


def test_movielens_1m_bad_rows(tmp_path: Path) -> None:
    root = ml_1m(tmp_path)
    write(root / "ratings.dat", "1::1193::5::978300760\n1::661::x::978302109\n2::1193::4::978298413\n")
    with pytest.raises(DataError) as error:
        movielens.load(root)
    assert (error.value.line, error.value.field) == (2, "rating")
    assert Path(error.value.path).name == "ratings.dat"
    data = movielens.load(root, on_bad_rows="skip")
    assert data.skipped_rows == 1
    assert data.interactions["item_id"].tolist() == ["1193", "1193"]

    write(root / "ratings.dat", "1::1193::5::978300760\n1::661::978302109\n")
    with pytest.raises(DataError, match=r"(?i)expected 4 (fields|columns)") as error:
        movielens.load(root)
    assert "\x1f" not in str(error.value)  # the stand-in for '::' never leaks into messages
    assert error.value.line == 2
    assert movielens.load(root, on_bad_rows="skip").skipped_rows == 1


def ml_latest(root: Path) -> Path:
    write(
        root / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,11,4.5,964981247\n2,1,2.5,1445714835\n",
    )
    write(
        root / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n12,Nothing (2020),(no genres listed)\n',
    )
    write(
        root / "tags.csv",
        "userId,movieId,tag,timestamp\n2,1,pixar,1445714994\n2,1,fun,1445714996\n"
        '3,1,pixar,1445714997\n3,11,"politics, US",1445714998\n4,1,Tom Hanks,1445714999\n',
    )
    return root


def test_movielens_latest(tmp_path: Path) -> None:
    data = load_dataset(ml_latest(tmp_path), "movielens")
    assert data.interactions["rating"].tolist() == [4.0, 4.5, 2.5]
    assert data.interactions["timestamp"].tolist() == [964982703, 964981247, 1445714835]
    assert item(data.items, "1") == {
        "item_id": "1", "title": "Toy Story (1995)", "genres": "Adventure, Animation, Children",
        "tags": "pixar, fun, Tom Hanks",
    }  # fmt: skip
    assert item(data.items, "11")["title"] == "American President, The (1995)"
    assert item(data.items, "11")["tags"] == "politics, US"
    assert item(data.items, "12")["genres"] == "" and item(data.items, "12")["tags"] == ""
    assert data.users is None
    assert_plain_text(data.items)


def test_movielens_errors(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "hello")
    with pytest.raises(DataError, match="not a MovieLens directory"):
        movielens.load(tmp_path)
    with pytest.raises(DataError, match="not found"):
        movielens.load(tmp_path / "missing")
    root = ml_latest(tmp_path / "ml")
    (root / "movies.csv").unlink()
    with pytest.raises(DataError, match="movies.csv"):
        movielens.load(root)
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,,4.5,964981247\n")
    with pytest.raises(DataError) as error:
        movielens.load(root)
    assert (error.value.line, error.value.field) == (3, "movieId")
    with pytest.raises(DataError, match="does not take"):
        movielens.load(ml_latest(tmp_path / "ml2"), delimiter=";")


@pytest.mark.parametrize("root", ML_SMALL, ids=["shared", "bundled"])
def test_movielens_latest_small(root: Path) -> None:
    if not (root / "ratings.csv").is_file():
        pytest.skip(f"{root} not present")
    data = load_dataset(root, "movielens")
    frame = data.interactions
    assert len(frame) == 100_837  # 100,836 ratings by 610 users + the stray user-999 row
    assert frame["user_id"].nunique() == 611
    assert (frame["user_id"] != "999").sum() == 100_836
    assert frame.iloc[-1].to_dict() == {"user_id": "999", "item_id": "999999", "timestamp": 1493846415, "rating": 5.0}
    assert len(data.items) == 9_742
    tags = item(data.items, "60756")["tags"].split(", ")
    assert tags[:3] == ["funny", "Highly quotable", "will ferrell"]
    assert len(tags) == len(set(tags))
    assert item(data.items, "1")["genres"] == "Adventure, Animation, Children, Comedy, Fantasy"
    assert data.skipped_rows == 0
    assert_plain_text(data.items)


# --- Amazon -------------------------------------------------------------------


def jsonl(records: list[dict | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


REVIEWS_2018 = [
    {"overall": 5.0, "verified": True, "reviewerID": "A1", "asin": "B001", "unixReviewTime": 1404259200,
     "style": {"Format:": " Paperback"}, "reviewText": "Great"},
    {"overall": 3, "reviewerID": "A2", "asin": "B002", "unixReviewTime": 1404345600, "vote": "2"},
    {"overall": 4.0, "reviewerID": "A1", "asin": "B002", "unixReviewTime": 1404432000, "image": ["x.jpg"]},
]  # fmt: skip
META_2018 = [
    {"asin": "B001", "title": "Über Book", "category": ["Books", "Fiction"], "brand": "Acme",
     "description": ["A long", "story."], "price": "$3"},
    {"asin": "B002", "title": "Second", "category": [], "description": ["x" * 1500]},
]  # fmt: skip


def test_amazon_2018_directory(tmp_path: Path) -> None:
    write(tmp_path / "Books_5.json", jsonl(REVIEWS_2018))
    write(tmp_path / "meta_Books.json", jsonl(META_2018))
    data = load_dataset(tmp_path, "amazon")
    frame = data.interactions
    assert frame["user_id"].tolist() == ["A1", "A2", "A1"]
    assert frame["item_id"].tolist() == ["B001", "B002", "B002"]
    assert frame["rating"].tolist() == [5.0, 3.0, 4.0]
    assert frame["timestamp"].tolist() == [1404259200, 1404345600, 1404432000]
    assert item(data.items, "B001") == {
        "item_id": "B001", "title": "Über Book", "categories": "Books, Fiction", "brand": "Acme",
        "description": "A long story.",
    }  # fmt: skip
    second = item(data.items, "B002")
    assert second["brand"] == "" and second["categories"] == ""
    assert len(second["description"]) == amazon.DESCRIPTION_CHARS
    assert_plain_text(data.items)


def test_amazon_2023_gzip(tmp_path: Path) -> None:
    reviews = [
        {"rating": 5.0, "title": "ok", "text": "t", "images": [], "asin": "B01", "parent_asin": "P01",
         "user_id": "U1", "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": True},
        {"rating": 2.0, "asin": "B02", "user_id": "U2", "timestamp": 1588687729000},
        {"rating": 4.0, "asin": "B03", "parent_asin": "", "user_id": "U1", "timestamp": 1588687730999},
    ]  # fmt: skip
    meta = [
        {"main_category": "All Beauty", "title": "Lotion", "average_rating": 4.2, "features": ["Soft", "Light"],
         "description": ["Smooth skin."], "categories": ["Beauty", "Skin"], "details": {"Brand": "X"},
         "parent_asin": "P01"},
    ]  # fmt: skip
    path = tmp_path / "All_Beauty.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(jsonl(reviews).encode())
    meta_path = write(tmp_path / "meta_All_Beauty.jsonl", jsonl(meta))
    data = amazon.load(path, meta=meta_path)
    frame = data.interactions
    assert frame["item_id"].tolist() == ["P01", "B02", "B03"]  # parent_asin, else asin
    assert frame["timestamp"].tolist() == [1588687728, 1588687729, 1588687730]  # ms -> s
    assert frame["rating"].tolist() == [5.0, 2.0, 4.0]
    assert item(data.items, "P01") == {
        "item_id": "P01", "title": "Lotion", "categories": "Beauty, Skin", "main_category": "All Beauty",
        "description": "Smooth skin. Soft Light",
    }  # fmt: skip
    assert amazon.load(path).items is None


def test_amazon_errors(tmp_path: Path) -> None:
    bad_json = [REVIEWS_2018[0], "", '{"overall": 5.0, "reviewerID": "A3", "asin"', REVIEWS_2018[1]]
    path = write(tmp_path / "a" / "reviews.jsonl", jsonl(bad_json))
    with pytest.raises(DataError, match="invalid JSON") as error:
        amazon.load(path)
    assert error.value.line == 3
    data = amazon.load(path, on_bad_rows="skip")
    assert (data.skipped_rows, len(data.interactions)) == (1, 2)

    missing_user = [REVIEWS_2018[0], "", {"overall": 1.0, "asin": "B9", "unixReviewTime": 1}]
    path = write(tmp_path / "b" / "reviews.jsonl", jsonl(missing_user))
    with pytest.raises(DataError) as error:
        amazon.load(path)
    assert (error.value.line, error.value.field) == (3, "reviewerID")

    bad_rating = [REVIEWS_2018[0], {"overall": "five", "reviewerID": "A", "asin": "B", "unixReviewTime": 1}]
    path = write(tmp_path / "c" / "reviews.jsonl", jsonl(bad_rating))
    with pytest.raises(DataError) as error:
        amazon.load(path)
    assert (error.value.line, error.value.field) == (2, "overall")
    assert amazon.load(path, on_bad_rows="skip").skipped_rows == 1

    write(tmp_path / "d" / "one.json", jsonl(REVIEWS_2018))
    write(tmp_path / "d" / "two.json", jsonl(REVIEWS_2018))
    with pytest.raises(DataError, match="2 reviews files"):
        amazon.load(tmp_path / "d")
    with pytest.raises(DataError, match="not found"):
        amazon.load(tmp_path / "nothing.json")
    path = write(tmp_path / "e" / "reviews.json", jsonl([{"user": "x"}]))
    with pytest.raises(DataError, match="not an Amazon review"):
        amazon.load(path)


# --- Goodbooks ----------------------------------------------------------------


def goodbooks_dir(root: Path) -> Path:
    write(root / "ratings.csv", "user_id,book_id,rating\n1,1,5\n2,1,3\n2,2,4\n")
    write(
        root / "books.csv",
        "book_id,goodreads_book_id,best_book_id,work_id,books_count,isbn,isbn13,authors,"
        "original_publication_year,original_title,title,language_code\n"
        "1,2767052,2767052,2792775,272,439023483,9.78043902348e+12,Suzanne Collins,2008.0,"
        'The Hunger Games,"The Hunger Games (The Hunger Games, #1)",eng\n'
        '2,3,3,4640799,491,439554934,9.78043955493e+12,"J.K. Rowling, Mary GrandPré",1997.0,'
        "Harry Potter and the Philosopher's Stone,Harry Potter and the Sorcerer's Stone,eng\n",
    )
    tag_rows = "".join(f"3,{t},{100 - t}\n" for t in range(12))  # 12 tags for book 2 (goodreads 3)
    write(root / "book_tags.csv", "goodreads_book_id,tag_id,count\n2767052,30,10\n2767052,31,50\n" + tag_rows)
    names = "".join(f"{t},tag{t}\n" for t in range(12))
    write(root / "tags.csv", "tag_id,tag_name\n" + names + "30,dystopia\n31,young-adult\n")
    return root


def test_goodbooks(tmp_path: Path) -> None:
    data = load_dataset(goodbooks_dir(tmp_path), "goodbooks")
    frame = data.interactions
    assert list(frame.columns) == ["user_id", "item_id", "rating"]  # no timestamps
    assert frame["item_id"].tolist() == ["1", "1", "2"]
    assert frame["rating"].tolist() == [5.0, 3.0, 4.0]
    hunger = item(data.items, "1")
    assert hunger["title"] == "The Hunger Games (The Hunger Games, #1)"
    assert hunger["authors"] == "Suzanne Collins"
    assert hunger["tags"] == "young-adult, dystopia"  # by count, mapped through goodreads_book_id
    potter = item(data.items, "2")
    assert potter["authors"] == "J.K. Rowling, Mary GrandPré"
    assert potter["tags"] == ", ".join(f"tag{t}" for t in range(10))  # top 10 of 12
    assert_plain_text(data.items)


def test_goodbooks_errors(tmp_path: Path) -> None:
    root = goodbooks_dir(tmp_path)
    write(root / "ratings.csv", "user_id,book_id,rating\n1,1,5\n2,1,great\n2,2,4\n")
    with pytest.raises(DataError) as error:
        goodbooks.load(root)
    assert (error.value.line, error.value.field) == (3, "rating")
    assert goodbooks.load(root, on_bad_rows="skip").skipped_rows == 1
    (root / "books.csv").unlink()
    with pytest.raises(DataError, match="books.csv"):
        goodbooks.load(root, on_bad_rows="skip")


# --- Last.fm ------------------------------------------------------------------


def lastfm_dir(root: Path, timestamps: bool = False) -> Path:
    write(root / "user_artists.dat", "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t228\n")
    write(
        root / "artists.dat",
        "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://www.last.fm/music/Duran+Duran\thttp://x/1.jpg\n"
        '52\t"Weird Al" Yankovic\thttp://www.last.fm/music/x\thttp://x/2.jpg\n53\tBjörk\thttp://x\t\n',
    )
    write(root / "tags.dat", "tagID\ttagValue\n1\tmetal\n2\télectronique\n3\tpop\n", "latin-1")
    if timestamps:
        rows = "2\t51\t3\t1241128800000\n3\t51\t3\t1241128800000\n2\t51\t2\t1241128800000\n2\t53\t2\t1241128800000\n"
        write(root / "user_taggedartists-timestamps.dat", "userID\tartistID\ttagID\ttimestamp\n" + rows)
    else:
        rows = "2\t51\t3\t1\t4\t2009\n3\t51\t3\t1\t4\t2009\n2\t51\t2\t1\t4\t2009\n2\t53\t2\t1\t4\t2009\n"
        write(root / "user_taggedartists.dat", "userID\tartistID\ttagID\tday\tmonth\tyear\n" + rows)
    return root


@pytest.mark.parametrize("timestamps", [False, True])
def test_lastfm(tmp_path: Path, timestamps: bool) -> None:
    data = load_dataset(lastfm_dir(tmp_path, timestamps), "lastfm")
    frame = data.interactions
    assert list(frame.columns) == ["user_id", "item_id", "rating"]
    assert frame["rating"].tolist() == [13883.0, 11690.0, 228.0]
    assert item(data.items, "51") == {"item_id": "51", "name": "Duran Duran", "tags": "pop, électronique"}
    assert item(data.items, "52")["name"] == '"Weird Al" Yankovic'
    assert item(data.items, "52")["tags"] == ""
    assert item(data.items, "53") == {"item_id": "53", "name": "Björk", "tags": "électronique"}
    assert_plain_text(data.items)


def test_lastfm_errors(tmp_path: Path) -> None:
    root = lastfm_dir(tmp_path)
    write(root / "user_artists.dat", "userID\tartistID\tweight\n2\t51\t13883\n\t52\t11690\n")
    with pytest.raises(DataError) as error:
        lastfm.load(root)
    assert (error.value.line, error.value.field) == (3, "userID")
    (root / "artists.dat").unlink()
    with pytest.raises(DataError, match="artists.dat"):
        lastfm.load(root, on_bad_rows="skip")


# --- MIND -----------------------------------------------------------------------


def mind_dir(root: Path) -> Path:
    write(
        root / "behaviors.tsv",
        "1\tU13740\t11/11/2019 9:05:58 AM\tN55189 N42782 N34694\tN55689-1 N35729-0\n"
        "2\tU91836\t11/12/2019 6:11:30 PM\tN31739 N6072\tN20678-0 N39317-0 N58114-1\n"
        "3\tU13740\t11/13/2019 12:00:01 AM\tN55189 N42782 N34694\tN55689-0 N12345-1 N42782-1\n"
        "4\tU73700\t11/14/2019 7:01:48 AM\t\tN23877-0 N35389-1\n",
    )
    write(
        root / "news.tsv",
        'N55689\tsports\tfootball_nfl\t"The Voice" star joins team\tAn abstract.\thttps://x\t'
        '[{"Label": "The Voice"}]\t[]\n'
        "N35729\tnews\tnewsus\tPlain title\t\thttps://y\t[]\t[]\n",
    )
    return root


def epoch(text: str) -> int:
    return int(datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC).timestamp())


def test_mind(tmp_path: Path) -> None:
    data = load_dataset(mind_dir(tmp_path), "mind")
    shown = data.impressions
    assert list(shown.columns) == ["impression_id", "user_id", "item_id", "timestamp", "clicked"]
    assert len(shown) == 10
    assert shown["item_id"].tolist()[:5] == ["N55689", "N35729", "N20678", "N39317", "N58114"]
    assert shown["clicked"].tolist()[:5] == [True, False, False, False, True]
    assert shown["clicked"].dtype == bool
    assert int(shown["timestamp"].iloc[0]) == epoch("11/11/2019 9:05:58 AM")
    assert shown.loc[shown["impression_id"] == "3", "timestamp"].unique().tolist() == [epoch("11/13/2019 12:00:01 AM")]

    frame = data.interactions
    first = epoch("11/11/2019 9:05:58 AM")
    user = frame[frame["user_id"] == "U13740"]
    # history once (not twice), before the first impression, in file order; then clicks in time order
    assert user["item_id"].tolist() == ["N55189", "N42782", "N34694", "N55689", "N12345", "N42782"]
    assert user["timestamp"].tolist() == [first - 1] * 3 + [first] + [epoch("11/13/2019 12:00:01 AM")] * 2
    assert frame[frame["user_id"] == "U73700"]["item_id"].tolist() == ["N35389"]
    assert len(frame) == 3 + 3 + 2 + 1 + 1  # U13740 history+clicks, U91836 history+click, U73700 click
    assert frame["timestamp"].is_monotonic_increasing

    news = item(data.items, "N55689")
    assert news == {
        "item_id": "N55689", "category": "sports", "subcategory": "football_nfl",
        "title": '"The Voice" star joins team', "abstract": "An abstract.",
    }  # fmt: skip
    assert item(data.items, "N35729")["abstract"] == ""


def test_mind_errors(tmp_path: Path) -> None:
    root = mind_dir(tmp_path)
    lines = (root / "behaviors.tsv").read_text().splitlines(keepends=True)
    write(root / "behaviors.tsv", lines[0] + lines[1].replace("N39317-0", "N39317") + lines[2])
    with pytest.raises(DataError) as error:
        mind.load(root)
    assert (error.value.line, error.value.field) == (2, "impressions")
    data = mind.load(root, on_bad_rows="skip")
    assert data.skipped_rows == 1 and set(data.impressions["impression_id"]) == {"1", "3"}

    write(root / "behaviors.tsv", lines[0] + lines[1] + lines[2].replace("11/13/2019", "2019-11-13"))
    with pytest.raises(DataError) as error:
        mind.load(root)
    assert (error.value.line, error.value.field) == (3, "time")
    (root / "behaviors.tsv").unlink()
    with pytest.raises(DataError, match="behaviors.tsv"):
        mind.load(root)


# --- SQL ------------------------------------------------------------------------


def sqlite_db(path: Path) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ratings (uid INTEGER, item TEXT, stars REAL, ts INTEGER)")
        db.executemany(
            "INSERT INTO ratings VALUES (?, ?, ?, ?)",
            [(1, "a", 4.0, 100), (1, "b", 3.5, 200), (2, "a", None, 300)],
        )
        db.execute("CREATE TABLE movies (movie TEXT, title TEXT, year INTEGER)")
        db.executemany("INSERT INTO movies VALUES (?, ?, ?)", [("a", "Alpha", 1999), ("b", None, None)])
    return f"sqlite:///{path}"


def test_sql_table_and_query(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "db.sqlite")
    columns = ColumnMap(user_id="uid", item_id="item", rating="stars", timestamp="ts")
    data = load_dataset(url, "sql", table="ratings", columns=columns, items_table="movies", item_id_column="movie")
    frame = data.interactions
    assert frame["user_id"].tolist() == ["1", "1", "2"]
    assert frame["timestamp"].tolist() == [100, 200, 300]
    assert frame["rating"].iloc[:2].tolist() == [4.0, 3.5] and pd.isna(frame["rating"].iloc[2])
    assert item(data.items, "a") == {"item_id": "a", "title": "Alpha", "year": "1999"}
    assert item(data.items, "b") == {"item_id": "b", "title": "", "year": ""}

    data = sql.load(url, query="SELECT uid AS user_id, item AS item_id FROM ratings WHERE ts >= 200")
    assert data.interactions["item_id"].tolist() == ["b", "a"]


def test_sql_errors(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "db.sqlite")
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("INSERT INTO ratings VALUES (3, 'c', 'lots', 400)")
    columns = ColumnMap(user_id="uid", item_id="item", rating="stars")
    with pytest.raises(DataError) as error:
        sql.load(url, table="ratings", columns=columns)
    assert (error.value.line, error.value.field) == (4, "stars")
    assert "ratings" in str(error.value)
    assert sql.load(url, table="ratings", columns=columns, on_bad_rows="skip").skipped_rows == 1

    with pytest.raises(DataError, match="no such table"):
        sql.load(url, table="nope")
    with pytest.raises(DataError, match="SQL error") as error:
        sql.load(url, query="SELEC nonsense")
    assert "SELEC nonsense" in str(error.value)
    with pytest.raises(DataError, match="not found"):
        sql.load(f"sqlite:///{tmp_path / 'missing.sqlite'}", table="ratings")
    with pytest.raises(DataError) as error:
        sql.load("postgresql://alice:s3cret@127.0.0.1:1/db", table="ratings")
    assert "s3cret" not in str(error.value) and "alice" in str(error.value)
    with pytest.raises(DataError, match="URL"):
        sql.load("not a url", table="ratings")
    with pytest.raises(DataError, match="one of"):
        sql.load(url)
