"""Archive attachments, recognised by their bytes as well as their name.

Archives are how malware gets past a reader's eye and a scanner (an
executable inside a zip, a password-protected rar) and how a small upload
becomes a huge one (a zip bomb), so attachments of the kinds named in
``[security] refused_attachments`` are refused wherever they come in.

The bytes decide first: a zip renamed ``invoice.pdf`` is still a zip. A
declared name or content type that says archive is refused too, even when the
bytes do not (a tar without its ``ustar`` mark, or media we never fetch).
Office documents (docx, xlsx, pptx, odt, epub) are zip files inside; their
layout is recognised and they are not archives here. Pure: no I/O.
"""

from __future__ import annotations

import io
import zipfile
from typing import Final, Literal, get_args

ArchiveKind = Literal["zip", "rar", "7z", "tar", "gzip", "bzip2", "xz"]
ARCHIVE_KINDS: Final[tuple[ArchiveKind, ...]] = get_args(ArchiveKind)

_PREFIXES: Final[tuple[tuple[bytes, ArchiveKind], ...]] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
    (b"PK\x07\x08", "zip"),  # a spanned zip
    (b"Rar!\x1a\x07\x00", "rar"),
    (b"Rar!\x1a\x07\x01\x00", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
)
_BZIP2_BLOCKS: Final = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
_TAR_MARK_AT: Final = 257
_OOXML_PARTS: Final = frozenset({"word/document.xml", "xl/workbook.xml", "ppt/presentation.xml"})

_EXTENSIONS: Final[dict[str, ArchiveKind]] = {
    ".zip": "zip",
    ".rar": "rar",
    ".7z": "7z",
    ".tar": "tar",
    ".gz": "gzip",
    ".tgz": "gzip",
    ".bz2": "bzip2",
    ".tbz": "bzip2",
    ".tbz2": "bzip2",
    ".xz": "xz",
    ".txz": "xz",
}
_CONTENT_TYPES: Final[dict[str, ArchiveKind]] = {
    "application/zip": "zip",
    "application/x-zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/vnd.rar": "rar",
    "application/x-rar": "rar",
    "application/x-rar-compressed": "rar",
    "application/x-7z-compressed": "7z",
    "application/x-tar": "tar",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
}


def sniff(content: bytes) -> ArchiveKind | None:
    """The archive kind ``content`` is, by its magic bytes; None for anything else."""
    for prefix, kind in _PREFIXES:
        if content.startswith(prefix):
            if kind == "zip" and _office_document(content):
                return None
            return kind
    if content[:3] == b"BZh" and content[3:4].isdigit() and content[4:10] in _BZIP2_BLOCKS:
        return "bzip2"
    if content[_TAR_MARK_AT : _TAR_MARK_AT + 5] == b"ustar":
        return "tar"
    return None


def declared(filename: str | None, content_type: str | None) -> ArchiveKind | None:
    """The archive kind a name (its last extension) or a content type says."""
    kind = _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if kind is None and filename:
        name = filename.lower()
        kind = _EXTENSIONS.get(name[name.rfind(".") :]) if "." in name else None
    return kind


def archive_kind(
    content: bytes | None, filename: str | None = None, content_type: str | None = None
) -> ArchiveKind | None:
    """What archive an attachment is, by its bytes (when we have them), else
    by what it is called; None when it is not one."""
    found = sniff(content) if content else None
    return found or declared(filename, content_type)


def _office_document(content: bytes) -> bool:
    """An OOXML (docx, xlsx, pptx) or ODF/EPUB package rather than a zip of
    files. Only the central directory is read, nothing is decompressed; a zip
    that cannot be read is taken as a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            names = set(package.namelist())
            if "[Content_Types].xml" in names:  # OOXML
                return bool(names & _OOXML_PARTS)
            # ODF and EPUB: a first entry "mimetype", stored, naming the type.
            first = package.infolist()[0] if names else None
            if (
                first is None
                or first.filename != "mimetype"
                or first.compress_type != zipfile.ZIP_STORED
                or first.file_size > 100
            ):
                return False
            mimetype = package.read(first)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False
    return mimetype.startswith((b"application/vnd.oasis.opendocument.", b"application/epub+zip"))


__all__ = ["ARCHIVE_KINDS", "ArchiveKind", "archive_kind", "declared", "sniff"]
