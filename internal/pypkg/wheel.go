package pypkg

import (
	"io"
	"slices"
	"strings"
)

// ReadWheelMetadata checks the structure of the wheel in r (size bytes,
// uploaded as f) and returns the exact bytes of its .dist-info/METADATA,
// which is what PEP 658 serves. Every member is decompressed and counted
// against lim, so a wheel that passes can be installed without surprises.
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
	files := make(map[string]bool, len(members))
	for _, m := range members {
		// Symlinks are not part of the wheel format; installers that honour
		// them can be made to write outside site-packages.
		if isSymlink(m.file.Mode()) {
			return nil, newError(ErrInvalidArchive, "Invalid wheel: member %s is a symbolic link; wheels cannot contain links.", quote(m.clean))
		}
		if !m.dir {
			files[m.clean] = true
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
	metadataName := distInfo + "/METADATA"
	for _, want := range []string{metadataName, distInfo + "/WHEEL"} {
		if !files[want] {
			return nil, newError(ErrInvalidArchive, "Invalid wheel: %s not found. See https://packaging.python.org/specifications/binary-distribution-format/ for more information.", quote(want))
		}
	}

	kept, err := inflate(members, b, "wheel", func(m zipMember) int64 {
		if m.clean == metadataName {
			return b.lim.MaxMetadataSize
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	return kept[metadataName], nil
}
