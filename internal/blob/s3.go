package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store in a bucket of an S3-compatible object store:
//
//	PREFIX<k[0:2]>/<k[2:4]>/<k>   committed objects, k = hex SHA-256, as on disk
//
// An object is written to a local staging directory first, as on disk, so that it can be read back for checks
// before it is kept; Commit puts it in the bucket and only then removes the staged file. A crash leaves either no
// object, a staged file (Staged, CleanStaging), or an object that the database does not name yet, which
// `wharf fsck` lists and `fsck --gc` removes: never a partial object, since a PUT is all or nothing.
type S3 struct {
	staging
	client *minio.Client
	bucket string
	prefix string
}

var (
	_ Store  = (*S3)(nil)
	_ Linker = (*S3)(nil)
)

// S3Options say where an S3 store is.
type S3Options struct {
	// Endpoint is the server's URL: https://s3.amazonaws.com when empty. http:// is for a server on the same
	// machine or a private network: requests are signed, but neither they nor the files are encrypted.
	Endpoint string
	Region   string
	Bucket   string
	// Prefix is prepended to every object's name, as a folder (a "/" is added when it has none), so that one bucket
	// can hold several indexes or other data.
	Prefix string
	// AccessKey, SecretKey and SessionToken are the credentials; with no AccessKey, the usual AWS environment
	// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) are read.
	AccessKey, SecretKey, SessionToken string
	// StagingDir is the local directory where uploads are staged before they are put.
	StagingDir string
	// Redirect sends downloads to the bucket (S3.Link: a link signed for a short while) instead of through the
	// server; the server reads it, the store does not.
	Redirect bool
}

// ParseS3URL reads s3://[KEY:SECRET@]BUCKET[?endpoint=URL&region=R&prefix=P&redirect=true] into S3Options,
// without a staging directory (a setting of the server, not of the bucket).
func ParseS3URL(raw string) (S3Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return S3Options{}, fmt.Errorf("storage URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return S3Options{}, fmt.Errorf("storage URL %q: want s3://BUCKET, with endpoint, region and prefix as query settings", redactURL(u))
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "prefix", "redirect":
		default:
			return S3Options{}, fmt.Errorf("storage URL %q: unknown setting %q (endpoint, region, prefix, redirect)", redactURL(u), k)
		}
	}
	o := S3Options{Bucket: u.Host, Endpoint: q.Get("endpoint"), Region: q.Get("region"), Prefix: q.Get("prefix")}
	switch q.Get("redirect") {
	case "", "false":
	case "true":
		o.Redirect = true
	default:
		return S3Options{}, fmt.Errorf("storage URL %q: redirect must be true or false", redactURL(u))
	}
	if u.User != nil {
		o.AccessKey = u.User.Username()
		o.SecretKey, _ = u.User.Password()
	}
	if o.Endpoint != "" {
		e, err := url.Parse(o.Endpoint)
		if err != nil || e.Scheme != "http" && e.Scheme != "https" || e.Host == "" || e.Path != "" && e.Path != "/" {
			return S3Options{}, fmt.Errorf("storage URL %q: endpoint %q must be http://HOST[:PORT] or https://HOST[:PORT]", redactURL(u), o.Endpoint)
		}
	}
	o.Prefix = folder(o.Prefix)
	return o, nil
}

// folder makes a non-empty prefix end with "/".
func folder(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// redactURL leaves a secret key out of messages.
func redactURL(u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		c := *u
		c.User = url.UserPassword(u.User.Username(), "xxxxx")
		return c.String()
	}
	return u.String()
}

// NewS3 connects to the bucket o names and checks that it exists, so that a wrong setting fails at start, not
// at the first upload.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	e, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("blob: new s3: endpoint: %w", err)
	}
	creds := credentials.NewEnvAWS()
	if o.AccessKey != "" {
		creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken)
	}
	client, err := minio.New(e.Host, &minio.Options{Creds: creds, Secure: e.Scheme == "https", Region: o.Region})
	if err != nil {
		return nil, fmt.Errorf("blob: new s3: %w", err)
	}
	ok, err := client.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: new s3: bucket %q at %s: %w", o.Bucket, endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: new s3: bucket %q does not exist at %s", o.Bucket, endpoint)
	}
	if o.StagingDir == "" {
		return nil, errors.New("blob: new s3: no staging directory")
	}
	if err := os.MkdirAll(o.StagingDir, dirPerm); err != nil {
		return nil, fmt.Errorf("blob: new s3: %w", err)
	}
	root, err := os.OpenRoot(o.StagingDir)
	if err != nil {
		return nil, fmt.Errorf("blob: new s3: %w", err)
	}
	if err := mkdir(root, stagingDir); err != nil {
		root.Close()
		return nil, fmt.Errorf("blob: new s3: %w", err)
	}
	return &S3{staging: staging{root}, client: client, bucket: o.Bucket, prefix: folder(o.Prefix)}, nil
}

// Ping asks the server whether the bucket exists, which needs the network, the credentials and the bucket.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("blob: bucket %q: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("blob: bucket %q does not exist", s.bucket)
	}
	return nil
}

// Close releases the staging directory's handle.
func (s *S3) Close() error { return s.root.Close() }

func (s *S3) objectName(key string) string {
	return s.prefix + key[0:2] + "/" + key[2:4] + "/" + key
}

// keyOf returns the key of an object name that objectName could have made, or "".
func (s *S3) keyOf(name string) string {
	rest, ok := strings.CutPrefix(name, s.prefix)
	if !ok || len(rest) != 6+64 || rest[2] != '/' || rest[5] != '/' {
		return ""
	}
	key := rest[6:]
	if !ValidKey(key) || rest[0:2] != key[0:2] || rest[3:5] != key[2:4] {
		return ""
	}
	return key
}

// NewWriter starts an object in the local staging directory, which Commit puts in the bucket.
func (s *S3) NewWriter(ctx context.Context) (Writer, error) {
	f, err := s.newFile(ctx)
	if err != nil {
		return nil, err
	}
	return &s3Writer{stagedFile: f, s: s}, nil
}

// Open opens a committed object. Reads are requests for ranges of it, so Seek and http.ServeContent's Range
// requests work as on disk.
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("blob: open: %w", ErrInvalidKey)
	}
	o, err := s.client.GetObject(ctx, s.bucket, s.objectName(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, s3NotFound(err))
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, s3NotFound(err))
	}
	return &s3Object{Object: o, info: Info{Key: key, Size: st.Size, ModTime: st.LastModified}}, nil
}

// Stat describes a committed object.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, fmt.Errorf("blob: stat: %w", ErrInvalidKey)
	}
	st, err := s.client.StatObject(ctx, s.bucket, s.objectName(key), minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, s3NotFound(err))
	}
	return Info{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete removes a committed object; S3 answers a delete of a missing object with success too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("blob: delete: %w", ErrInvalidKey)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.objectName(key), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Walk lists the committed objects under the prefix. Names that Commit could not have made are skipped, so other
// data in the bucket never passes for objects.
func (s *S3) Walk(ctx context.Context, fn func(Info) error) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop() // ends the listing's requests when fn stops the walk
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("blob: walk: %w", o.Err)
		}
		key := s.keyOf(o.Key)
		if key == "" {
			continue
		}
		if err := fn(Info{Key: key, Size: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Link signs a GET of the object for expires. The response's headers are set by the request's own parameters,
// which the signature covers, so the bucket answers as the index would have: the same type, the same immutable
// caching, the filename the client asked for.
func (s *S3) Link(ctx context.Context, key, filename, cacheControl string, expires time.Duration) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("blob: link: %w", ErrInvalidKey)
	}
	params := url.Values{
		"response-content-type":        {"application/octet-stream"},
		"response-cache-control":       {cacheControl},
		"response-content-disposition": {mime.FormatMediaType("attachment", map[string]string{"filename": filename})},
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.objectName(key), expires, params)
	if err != nil {
		return "", fmt.Errorf("blob: link %s: %w", key, err)
	}
	return u.String(), nil
}

// s3NotFound maps the server's "no such key" to ErrNotFound.
func s3NotFound(err error) error {
	if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return err
}

// s3Writer commits its staged file by putting it in the bucket.
type s3Writer struct {
	*stagedFile
	s *S3
}

// Commit puts the staged bytes under their key, then removes the staged file. The PUT is signed over the bytes'
// SHA-256 (or carries a checksum over TLS), so the server refuses an object that arrives damaged; a PUT of a key
// that exists replaces it with the same bytes.
func (w *s3Writer) Commit(ctx context.Context) (Info, error) { return w.commitWith(ctx, w.commit) }

func (w *s3Writer) commit(ctx context.Context) (Info, error) {
	if err := w.ready(ctx); err != nil {
		return Info{}, err
	}
	// CleanStaging may have removed the staged file of a writer that went idle for longer than the grace period:
	// what the open file still reads was given up, and must not be kept.
	if _, err := w.root.Lstat(w.path()); err != nil {
		return Info{}, fmt.Errorf("staged data: %w", err)
	}
	key := hex.EncodeToString(w.h.Sum(nil))
	up, err := w.s.client.PutObject(ctx, w.s.bucket, w.s.objectName(key), io.NewSectionReader(w.f, 0, w.size), w.size,
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return Info{}, err
	}
	w.state = committed
	// The object is kept: a staged file left by a failure here is a leftover that CleanStaging removes.
	w.f.Close()
	w.f = nil
	w.root.Remove(w.path())
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return Info{Key: key, Size: w.size, ModTime: mod}, nil
}

type s3Object struct {
	*minio.Object
	info Info
}

func (o *s3Object) Info() Info { return o.info }
