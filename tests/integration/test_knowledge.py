"""The knowledge base over real HTTP (SPEC 8.6): the hospital's phrases and a doctor's
personal ones, search in any case and in Chinese with the best matches first."""

from __future__ import annotations

import pytest

from store.tables import KnowledgePhrase
from tests.fixtures.hospitals import PASSWORD, Place, make_place, new_doctor

pytestmark = pytest.mark.integration


async def test_search_ranks_and_keeps_personal_phrases_personal(
    place: Place, new_api, uniq
) -> None:
    phrases = [
        {
            "title": "肺结节",
            "category": "胸部",
            "keywords": "nodule 结节",
            "findings": "右肺上叶见结节影。",
            "impression": "右肺上叶结节。",
        },
        {
            "title": "胸部正常",
            "category": "胸部",
            "keywords": "normal",
            "findings": "双肺纹理清晰，未见结节。",
            "impression": "胸部未见异常。",
        },
        {
            "title": "Brain Normal",
            "category": "头颅",
            "keywords": "MR",
            "findings": "No lesion.",
            "impression": "Normal brain.",
        },
    ]
    for p in phrases:
        res = await place.admin.post("/api/knowledge", json=p)
        assert res.status_code == 201, res.text
    doctor = await new_doctor(place, uniq)
    colleague = await new_doctor(place, uniq)
    client, other = new_api(), new_api()
    await client.login(doctor["username"], PASSWORD)
    await other.login(colleague["username"], PASSWORD)
    res = await client.post(
        "/api/knowledge",
        json={"title": "我的结节描述", "findings": "磨玻璃结节", "personal": True},
    )
    assert res.status_code == 201 and res.json()["personal"]
    mine = res.json()["id"]
    res = await client.post("/api/knowledge", json={"title": "hospital-wide"})
    assert res.status_code == 400
    found = (await client.get("/api/knowledge", params={"q": "结节"})).json()
    titles = [p["title"] for p in found["items"]]
    assert titles[0] == "肺结节" and set(titles) == {"肺结节", "我的结节描述", "胸部正常"}
    assert titles.index("我的结节描述") < titles.index("胸部正常")  # title beats findings
    found = (await client.get("/api/knowledge", params={"q": "BRAIN normal"})).json()
    assert [p["title"] for p in found["items"]] == ["Brain Normal"]
    found = (await other.get("/api/knowledge", params={"q": "结节"})).json()
    assert "我的结节描述" not in [p["title"] for p in found["items"]]
    res = await other.patch(f"/api/knowledge/{mine}", json={"title": "x"})
    assert res.status_code == 404
    # an edit refreshes the search text
    res = await client.patch(f"/api/knowledge/{mine}", json={"keywords": "GGO", "version": 1})
    assert res.status_code == 200, res.text
    found = (await client.get("/api/knowledge", params={"q": "ggo"})).json()
    assert [p["id"] for p in found["items"]] == [mine]
    stale = await client.patch(f"/api/knowledge/{mine}", json={"title": "y", "version": 1})
    assert stale.status_code == 409
    row = await KnowledgePhrase.select().where(KnowledgePhrase.id == mine).first()
    assert row["title"] == "我的结节描述" and "ggo" in row["search_text"]


async def test_other_hospital_and_bad_input(place: Place, new_api, demo, uniq) -> None:
    other = await make_place(new_api, demo, uniq)
    res = await place.admin.post("/api/knowledge", json={"title": "肝囊肿", "keywords": "cyst"})
    phrase = res.json()
    assert (await other.admin.get(f"/api/knowledge/{phrase['id']}")).status_code == 404
    found = (await other.admin.get("/api/knowledge", params={"q": "cyst"})).json()
    assert found["total"] == 0
    assert (await place.admin.post("/api/knowledge", json={"title": " "})).status_code == 400
    assert (await place.admin.post("/api/knowledge", json={"title": "x" * 101})).status_code == 400
    assert (await place.admin.get("/api/knowledge?per_page=1000")).status_code == 400


async def test_demo_knowledge_base_in_chinese(api, demo) -> None:
    await api.login("dr.li", demo["password"])
    found = (await api.get("/api/knowledge", params={"q": "肺"})).json()
    assert found["total"] >= 3
    assert all(
        "肺" in (p["title"] + p["keywords"] + p["findings"] + p["impression"] + p["category"])
        for p in found["items"]
    )
