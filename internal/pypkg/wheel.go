package pypkg

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ReadWheelMetadata checks the structure of the wheel in r (size bytes,
// uploaded as f) and returns the exact bytes of its .dist-info/METADATA,
// which is what PEP 658 serves. Every member is decompressed and counted
// against lim, and checked against RECORD; the WHEEL file must agree with
// the filename's tags. So a wheel that passes can be installed without
// surprises.
//
// It does not compare METADATA's Name and Version with f: parse the result
// with ParseMetadata and check it with f.Matches(m.Name, m.Version).
func ReadWheelMetadata(r io.ReaderAt, size int64, f Filename, lim Limits) ([]byte, error) {
	if f.Kind != Wheel {
		return nil, newError(ErrInvalidArchive, "Invalid wheel: %s is not a wheel filename.", quote(f.Name))
	}
	b := newBudget(lim)
	_, members, err := openZip(r, size, b, "wheel")
	if err != nil {
		return nil, err
	}

	var distInfos []string
	files := make(map[string]zipMember, len(members))
	for _, m := range members {
		// Symlinks are not part of the wheel format; installers that honour
		// them can be made to write outside site-packages.
		if isSymlink(m.file.Mode()) {
			return nil, newError(ErrInvalidArchive, "Invalid wheel: member %s is a symbolic link; wheels cannot contain links.", quote(m.clean))
		}
		if !m.dir {
			files[m.clean] = m
		}
		top := topLevel(m.clean)
		if strings.HasSuffix(top, ".dist-info") && !slices.Contains(distInfos, top) {
			distInfos = append(distInfos, top)
		}
	}
	switch len(distInfos) {
	case 0:
		return nil, newError(ErrInvalidArchive, "Invalid wheel: no .dist-info directory found; a wheel must contain %s. See https://packaging.python.org/specifications/binary-distribution-format/ for more information.", quote(f.Name+"-"+f.Version+".dist-info/"))
	case 1:
	default:
		return nil, newError(ErrInvalidArchive, "Invalid wheel: it has more than one .dist-info directory (%s); a wheel must have exactly one.", describeList(distInfos))
	}
	distInfo := distInfos[0]
	if !matchesNameVersion(strings.TrimSuffix(distInfo, ".dist-info"), f.Name, f.Version) {
		return nil, newError(ErrInvalidArchive, "Invalid wheel: the .dist-info directory %s does not match the filename's name %s and version %s.", quote(distInfo), quote(f.Name), quote(f.Version))
	}
	metadataName, wheelName, recordName := distInfo+"/METADATA", distInfo+"/WHEEL", distInfo+"/RECORD"
	for _, want := range []string{metadataName, wheelName, recordName} {
		if _, ok := files[want]; !ok {
			return nil, newError(ErrInvalidArchive, "Invalid wheel: %s not found. See https://packaging.python.org/specifications/binary-distribution-format/ for more information.", quote(want))
		}
	}

	buf := make([]byte, 32<<10)
	// RECORD first: it says how every other member must hash, so each is
	// inflated once.
	recordBytes, err := readChecked(files[recordName], b, recordEntry{size: -1}, b.lim.MaxMetadataSize, buf)
	if err != nil {
		return nil, err
	}
	// Some slack, so that a few stray lines are named below.
	record, err := parseRecord(recordBytes, recordName, len(files)+100)
	if err != nil {
		return nil, err
	}
	if err := checkRecordLists(record, files, distInfo); err != nil {
		return nil, err
	}

	// WHEEL next, so that a wheel whose tags disagree with its filename is
	// refused before the rest is inflated.
	wheelFile, err := readChecked(files[wheelName], b, record[files[wheelName].file.Name], b.lim.MaxMetadataSize, buf)
	if err != nil {
		return nil, err
	}
	if err := checkWheelFile(wheelFile, wheelName, f); err != nil {
		return nil, err
	}
	var metadata []byte
	for _, m := range members {
		if m.dir || m.clean == wheelName || m.clean == recordName {
			continue
		}
		var keep int64
		if m.clean == metadataName {
			keep = b.lim.MaxMetadataSize
		}
		content, err := readChecked(m, b, record[m.file.Name], keep, buf)
		if err != nil {
			return nil, err
		}
		if m.clean == metadataName {
			metadata = content
		}
	}
	return metadata, nil
}

// readChecked inflates a member through the budget, checks it against its
// RECORD entry, and returns its content if keep > 0 (refused when larger).
func readChecked(m zipMember, b *budget, entry recordEntry, keep int64, buf []byte) ([]byte, error) {
	h := entry.newHash()
	var out *bytes.Buffer
	var dst io.Writer = io.Discard
	if keep > 0 {
		out = new(bytes.Buffer)
		dst = &capWriter{w: out, limit: keep, name: m.clean}
	}
	if h != nil {
		dst = io.MultiWriter(dst, h)
	}
	n, err := readMember(m, b, "wheel", dst, buf)
	if err != nil {
		return nil, err
	}
	if h != nil {
		if got := encodeRecordDigest(h.Sum(nil)); got != entry.digest {
			return nil, newError(ErrInvalidArchive, "Invalid wheel: %s does not match its hash in RECORD (RECORD says %s=%s, the file is %s=%s). Rebuild the wheel: its files must not change after it is built.", quote(m.clean), entry.algo, quote(entry.digest), entry.algo, got)
		}
	}
	if entry.size >= 0 && entry.size != n {
		return nil, newError(ErrInvalidArchive, "Invalid wheel: %s is %d bytes, but RECORD says %d. Rebuild the wheel: its files must not change after it is built.", quote(m.clean), n, entry.size)
	}
	if out == nil {
		return nil, nil
	}
	// Never nil, so an empty member reads as present.
	return append([]byte{}, out.Bytes()...), nil
}

// checkRecordLists checks, before anything else is inflated, that RECORD
// lists every file exactly once (parseRecord refused repeats), lists
// nothing else, and gives a hash for every file but itself and its
// signatures.
func checkRecordLists(record map[string]recordEntry, files map[string]zipMember, distInfo string) error {
	recordName := distInfo + "/RECORD"
	var unlisted, unhashed []string
	listed := make(map[string]bool, len(files))
	for _, m := range files {
		e, ok := record[m.file.Name]
		if !ok {
			unlisted = append(unlisted, m.file.Name)
			continue
		}
		listed[m.file.Name] = true
		switch m.clean {
		case recordName:
			if e.algo != "" {
				return newError(ErrInvalidArchive, "Invalid wheel: %s gives a hash for itself, which cannot be right; list it without one (%s,,).", quote(recordName), m.file.Name)
			}
		case recordName + ".jws", recordName + ".p7s":
		default:
			if e.algo == "" {
				unhashed = append(unhashed, m.file.Name)
			}
		}
	}
	var absent []string
	for p := range record {
		if !listed[p] {
			absent = append(absent, p)
		}
	}
	slices.Sort(unlisted)
	slices.Sort(unhashed)
	slices.Sort(absent)
	switch {
	case len(unlisted) > 0:
		return newError(ErrInvalidArchive, "Invalid wheel: %s does not list %s; every file in a wheel must be listed in RECORD with its hash. Rebuild the wheel with a current build tool.", quote(recordName), describeList(unlisted))
	case len(absent) > 0:
		return newError(ErrInvalidArchive, "Invalid wheel: %s lists %s, which the wheel does not contain. Rebuild the wheel with a current build tool.", quote(recordName), describeList(absent))
	case len(unhashed) > 0:
		return newError(ErrInvalidArchive, "Invalid wheel: %s gives no hash for %s; every file but RECORD itself needs a sha256 hash. Rebuild the wheel with a current build tool.", quote(recordName), describeList(unhashed))
	}
	return nil
}

// maxWheelTags bounds the tags one wheel may stand for. Real wheels have a
// handful (a manylinux wheel a few); compressed tag sets multiply, so a
// WHEEL file of a few kilobytes could otherwise expand to billions.
const maxWheelTags = 4096

// checkWheelFile checks the .dist-info/WHEEL file (PEP 427): a Wheel-Version
// of major version 1, Tag lines that stand for exactly the tags of the
// filename, and a Build, if given, equal to the filename's build tag.
//
// It is parsed as the email headers it is, as installers do: the first
// blank line ends it, and keys are case-insensitive. Backends write it in
// different shapes that all pass: one Tag line per tag (hatchling, flit,
// bdist_wheel) or one compressed set (poetry-core), with or without
// Generator, Root-Is-Purelib and a trailing blank line.
func checkWheelFile(b []byte, name string, f Filename) error {
	bad := func(format string, args ...any) error {
		return newError(ErrInvalidArchive, "Invalid wheel: "+format, args...)
	}
	var version, build string
	var hasVersion, hasBuild bool
	tags := make(map[string]bool)
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderKey(key) {
			return bad("line %d of %s is not a \"Key: value\" line.", i+1, quote(name))
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(key) {
		case "wheel-version":
			if hasVersion {
				return bad("%s has more than one Wheel-Version line.", quote(name))
			}
			version, hasVersion = value, true
		case "build":
			if hasBuild {
				return bad("%s has more than one Build line.", quote(name))
			}
			build, hasBuild = value, true
		case "tag":
			parts := strings.Split(value, "-")
			if len(parts) != 3 || !validTagSet(parts[0]) || !validTagSet(parts[1]) || !validTagSet(parts[2]) {
				return bad("%s has an invalid Tag line %s; a tag is {python tag}-{abi tag}-{platform tag}.", quote(name), quote(value))
			}
			if !expandTags(parts[0], parts[1], parts[2], tags) {
				return bad("%s stands for more than %d tags.", quote(name), maxWheelTags)
			}
		}
	}

	if !hasVersion {
		return bad("%s has no Wheel-Version line. See https://packaging.python.org/specifications/binary-distribution-format/ for more information.", quote(name))
	}
	major, ok := wheelMajorVersion(version)
	if !ok {
		return bad("the Wheel-Version %s in %s is not a version number such as 1.0.", quote(version), quote(name))
	}
	if major != 1 {
		return bad("the wheel format version %s (Wheel-Version in %s) is not supported; only version 1.x wheels can be uploaded (PEP 427).", quote(version), quote(name))
	}

	fromName := make(map[string]bool)
	if !expandTags(f.PythonTag, f.ABITag, f.PlatformTag, fromName) {
		return bad("the filename stands for more than %d tags.", maxWheelTags)
	}
	if !maps.Equal(fromName, tags) {
		return bad("the filename's tags (%s) do not match the Tag lines of %s (%s). Rename the wheel to match its tags, or rebuild it.", tagList(fromName), quote(name), tagList(tags))
	}
	if hasBuild && f.Build == "" {
		return bad("%s has Build %s, but the filename has no build tag; name the wheel with it.", quote(name), quote(build))
	}
	if hasBuild && build != f.Build {
		return bad("the filename's build tag %s does not match the Build line of %s (%s).", quote(f.Build), quote(name), quote(build))
	}
	return nil
}

// validHeaderKey accepts what Python's email parser reads as a header name:
// printable ASCII without spaces or colons.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// wheelMajorVersion reads a Wheel-Version as pip does: dot-separated
// integers, of which the first is the major version.
func wheelMajorVersion(v string) (int, bool) {
	major := -1
	for i, part := range strings.Split(v, ".") {
		if part == "" || strings.Trim(part, "0123456789") != "" || len(part) > 9 {
			return 0, false
		}
		if i == 0 {
			major, _ = strconv.Atoi(part)
		}
	}
	return major, true
}

// expandTags adds the tags a compressed tag set stands for (the cartesian
// product of its dot-separated parts, as in py2.py3-none-any), lower-cased
// as packaging compares them. It reports false past maxWheelTags.
func expandTags(py, abi, plat string, into map[string]bool) bool {
	ps, as, xs := strings.Split(py, "."), strings.Split(abi, "."), strings.Split(plat, ".")
	if len(ps) > maxWheelTags || len(as) > maxWheelTags || len(xs) > maxWheelTags ||
		len(into)+len(ps)*len(as)*len(xs) > maxWheelTags {
		return false
	}
	for _, p := range ps {
		for _, a := range as {
			for _, x := range xs {
				into[strings.ToLower(p+"-"+a+"-"+x)] = true
			}
		}
	}
	return true
}

func tagList(tags map[string]bool) string {
	if len(tags) == 0 {
		return "none"
	}
	sorted := slices.Sorted(maps.Keys(tags))
	if len(sorted) > 8 {
		return strings.Join(sorted[:8], ", ") + ", and " + strconv.Itoa(len(sorted)-8) + " more"
	}
	return strings.Join(sorted, ", ")
}
