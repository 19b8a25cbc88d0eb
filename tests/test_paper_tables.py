from reference_models.tables.paper import CLAIMS, TABLE3, TABLE4, check_claims, presets_needed, table_frame


def test_paper_values_match_the_facts_file():
    f = {r.label: r for r in TABLE3 + TABLE4}
    assert (f["E + Add noise inputs"].ppl_full, f["E + Add noise inputs"].ppl_end, f["E + Add noise inputs"].separability) == (200.5, 160.6, 3.54)
    assert f["Traditional 8 Z"].separability == 170.29 and f["Traditional 8 W"].ppl_end == 212.2
    assert f["Style-based 8 W"].fid == 4.40 and f["Style-based 0 Z"].space == "z"
    assert presets_needed() == ["b-traditional", "d-style", "e-noise", "mixing50", "f-mixing90",
                                "traditional-map8", "style-map0", "style-map1", "style-map2"]


def _paper_measurements():
    """The paper's own numbers, in the measured-dict layout (F's Z values from the official README)."""
    m = {}
    for r in TABLE3 + TABLE4:
        d = m.setdefault(r.preset, {})
        d[f"ppl_{r.space}full"], d[f"ppl_{r.space}end"], d[f"ls_{r.space}"] = r.ppl_full, r.ppl_end, r.separability
        if r.fid is not None:
            d["fid"] = r.fid
    m["f-mixing90"].update(ppl_zfull=664.9, ppl_zend=666.1, ls_z=165.0)
    return m


def test_claims_hold_on_the_papers_own_numbers():
    df = check_claims(_paper_measurements())
    assert len(df) == len(CLAIMS)
    assert df["holds"].tolist() == [True] * len(CLAIMS), df


def test_claims_fail_when_reversed_and_are_unknown_when_missing():
    m = _paper_measurements()
    m["f-mixing90"]["ppl_wfull"] = 10_000.0
    df = check_claims(m)
    assert df.loc[0, "holds"] is False or df.loc[0, "holds"] == False  # noqa: E712
    assert check_claims({})["holds"].isna().all()


def test_table_frame_layout():
    df = table_frame(TABLE4, {"style-map1": {"fid": 9.0, "ppl_wfull": 1.0}})
    row = df[df.generator == "Style-based 1 W"].iloc[0]
    assert row["FID (ours)"] == 9.0 and row["full (ours)"] == 1.0 and row["FID (paper)"] == 4.60
    assert "FID (paper)" not in table_frame(TABLE3, {}).columns
