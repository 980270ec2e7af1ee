"""OneRoster 1.1 bundle parsing, row rejection, and the import plan."""

from __future__ import annotations

import io
import zipfile

import pytest
from linking.devtools import BundleStudent, oneroster_bundle
from linking.domain.errors import RosterFileInvalid
from linking.domain.roster import StoredStudent, parse_bundle, plan_import


def _students(school: str = "0123", n: int = 3) -> list[BundleStudent]:
    return [
        BundleStudent(f"9096{i:04d}", f"Student{i}", f"First{i}", school, "2015-04-0" + str(i + 1))
        for i in range(n)
    ]


def _rezip(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name in replace:
                if replace[name] is not None:
                    dst.writestr(name, replace[name])  # type: ignore[arg-type]
            else:
                dst.writestr(name, src.read(name))
    return out.getvalue()


def test_students_come_with_school_identifier_and_birth_date() -> None:
    bundle = parse_bundle(oneroster_bundle(_students()))
    assert bundle.mode == "bulk" and bundle.rows_read == 3 and not bundle.rejections
    first = bundle.students[0]
    assert (first.school_id, first.student_id, first.last_name) == ("0123", "90960000", "Student0")
    assert first.birth_date == "2015-04-01"
    assert first.doc_id == "0123|90960000"
    assert bundle.scope_school_keys == {"0123"}


def test_bundle_inside_a_folder_is_accepted() -> None:
    data = oneroster_bundle(_students())
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(f"export-2026/{name}", src.read(name))
    assert len(parse_bundle(out.getvalue()).students) == 3


def test_bad_rows_are_rejected_with_row_number_and_reason() -> None:
    extra = [
        [
            "u-bad-1",
            "",
            "",
            "true",
            "org-0123",
            "student",
            "",
            "",
            "Ann",
            "",
            "",
            "555",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "u-bad-2",
            "",
            "",
            "true",
            "org-0123",
            "student",
            "",
            "",
            "Bo",
            "Ray",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "u-t",
            "",
            "",
            "true",
            "org-0123",
            "teacher",
            "",
            "",
            "T",
            "Teach",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "u-bad-3",
            "",
            "",
            "true",
            "org-9999",
            "student",
            "",
            "",
            "Cy",
            "Dee",
            "",
            "77",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
    ]
    bundle = parse_bundle(oneroster_bundle(_students(), extra_user_rows=extra))
    reasons = {(r.file, r.row): r.reason for r in bundle.rejections}
    assert reasons[("users.csv", 5)] == "familyName is empty"
    assert reasons[("users.csv", 6)] == "identifier is empty"
    assert reasons[("users.csv", 8)] == "no enrollment in a school of orgs.csv"
    assert len(bundle.students) == 3  # teacher ignored, good rows kept


def test_duplicate_student_id_in_a_school_is_rejected() -> None:
    students = [*_students(), BundleStudent("90960000", "Other", "Kid", "0123", sourced_id="u-dup")]
    bundle = parse_bundle(oneroster_bundle(students))
    assert len(bundle.students) == 3
    assert bundle.rejections[0].reason.startswith("identifier already used")
    assert bundle.rejections[0].sourced_id == "u-dup"


def test_invalid_birth_date_rejects_the_demographics_row_only() -> None:
    students = [BundleStudent("1", "Doe", "Jo", "0123", "2015-13-45")]
    bundle = parse_bundle(oneroster_bundle(students))
    assert bundle.students[0].birth_date is None
    assert bundle.rejections[0].file == "demographics.csv"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"not a zip at all", "not a zip"),
    ],
)
def test_not_a_bundle(data: bytes, expected: str) -> None:
    with pytest.raises(RosterFileInvalid, match=expected):
        parse_bundle(data)


def test_missing_file_or_column_or_encoding_is_a_file_error() -> None:
    good = oneroster_bundle(_students())
    with pytest.raises(RosterFileInvalid, match=r"users\.csv is missing"):
        parse_bundle(_rezip(good, {"users.csv": None}))
    with pytest.raises(RosterFileInvalid, match=r"manifest\.csv is missing"):
        parse_bundle(_rezip(good, {"manifest.csv": None}))
    with pytest.raises(RosterFileInvalid, match="missing column"):
        parse_bundle(_rezip(good, {"users.csv": b"sourcedId,role\nu1,student\n"}))
    with pytest.raises(RosterFileInvalid, match="not UTF-8"):
        parse_bundle(_rezip(good, {"orgs.csv": "sourcedId,name\no1,Écola\n".encode("latin-1")}))
    with pytest.raises(RosterFileInvalid, match=r"not 1\.1"):
        parse_bundle(_rezip(good, {"manifest.csv": b"propertyName,value\noneroster.version,1.2\n"}))


def test_truncated_zip_is_a_file_error() -> None:
    good = oneroster_bundle(_students(n=200))
    with pytest.raises(RosterFileInvalid):
        parse_bundle(good[: len(good) // 2])


def test_plan_creates_updates_keeps_and_withdraws_within_scope() -> None:
    bundle = parse_bundle(oneroster_bundle(_students(n=3)))
    by_id = {s.doc_id: s for s in bundle.students}
    existing = {
        "0123|90960000": StoredStudent(by_id["0123|90960000"].content_hash, "active"),
        "0123|90960001": StoredStudent("old-hash", "active"),
        "0123|GONE": StoredStudent("h", "active"),
        "0123|ALREADY": StoredStudent("h", "withdrawn"),
        "0999|OTHER": StoredStudent("h", "active"),  # another school: out of scope
    }
    plan = plan_import(bundle, existing)
    assert [s.doc_id for s in plan.create] == ["0123|90960002"]
    assert [s.doc_id for s in plan.update] == ["0123|90960001"]
    assert plan.unchanged == 1
    assert plan.withdraw == ["0123|GONE"]


def test_withdrawn_student_back_in_the_file_is_updated() -> None:
    bundle = parse_bundle(oneroster_bundle(_students(n=1)))
    s = bundle.students[0]
    plan = plan_import(bundle, {s.doc_id: StoredStudent(s.content_hash, "withdrawn")})
    assert [x.doc_id for x in plan.update] == [s.doc_id]


def test_delta_withdraws_only_tobedeleted() -> None:
    students = _students(n=2)
    data = oneroster_bundle(students, mode="delta", tobedeleted=["u-0123-90960001"])
    bundle = parse_bundle(data)
    assert bundle.mode == "delta"
    assert [s.student_id for s in bundle.students] == ["90960000"]
    existing = {
        "0123|90960001": StoredStudent("h", "active", "u-0123-90960001"),
        "0123|OTHER": StoredStudent("h", "active", "u-other"),
    }
    plan = plan_import(bundle, existing)
    assert plan.withdraw == ["0123|90960001"]


def test_schools_keep_the_name_families_know_and_closed_ones_are_listed() -> None:
    data = oneroster_bundle(_students("0123") + _students("0456", 1))
    orgs = (
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        "o1,,,  Lincoln   Elementary ,school,0123,d\n"
        "o2,,,,school,0456,d\n"
        "o3,tobedeleted,,Old School,school,0999,d\n"
    )
    users = zipfile.ZipFile(io.BytesIO(data)).read("users.csv").decode()
    enrollments = zipfile.ZipFile(io.BytesIO(data)).read("enrollments.csv").decode()
    # the generated bundle names its orgs by its own sourcedIds: point them at o1 / o2
    for old, new in (("org-0123", "o1"), ("org-0456", "o2")):
        users, enrollments = users.replace(old, new), enrollments.replace(old, new)
    bundle = parse_bundle(
        _rezip(
            data,
            {
                "orgs.csv": orgs.encode(),
                "users.csv": users.encode(),
                "enrollments.csv": enrollments.encode(),
            },
        )
    )
    # white space folded; an org without a name is listed by its id
    assert bundle.school_names == {"0123": "Lincoln Elementary", "0456": "0456"}
    assert bundle.closed_school_ids == {"0999"}
