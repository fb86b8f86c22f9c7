// Package pypkg holds the Python packaging rules that wharf enforces, as pure
// functions with no I/O beyond the readers they are handed: project names
// (PEP 503, PEP 508) and the confusable-name key, PEP 440 versions,
// distribution filenames (PEP 427, PEP 491, PEP 527, PEP 625), core metadata
// 1.0 to 2.4, and the inspection of wheels and sdists.
//
// Everything here treats its input as hostile: it is what a package author
// uploaded. Errors carry a short message that can be shown to that author as
// it is, and wrap one of the sentinel errors so callers can map them to a
// status code with errors.Is.
package pypkg
