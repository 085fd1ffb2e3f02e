// Package s3 is a backend.Backend on an S3 bucket (AWS S3, or a server
// that speaks its API: versitygw, MinIO, Ceph RGW, ...), through
// github.com/minio/minio-go/v7.
//
// An object of name n is the S3 object prefix/n of the bucket. Put is a
// single PutObject; Create is a PutObject with If-None-Match: *, which the
// server refuses with 412 PreconditionFailed when the key exists (AWS S3
// since August 2024, versitygw, MinIO); a server that ignores the header
// would make Create a plain Put, so a backend must be tried against the
// server it is used with (the package tests do, against versitygw).
//
// Errors: a missing object wraps backend.ErrNotExist, a refused Create
// backend.ErrExist; server errors (5xx, throttling), timeouts and dropped
// connections that are left once the SDK's own few retries are spent wrap
// backend.ErrTransient; anything else (no such bucket, access denied, bad
// credentials) is permanent. Every error names the operation, the object
// and its URL, and the server's error code:
//
//	backend: put wal/1.log: s3://bucket/prefix/wal/1.log: AccessDenied: Access Denied
package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/pwlog/pwlog/backend"
)

// Options say where the bucket is and how to sign requests.
type Options struct {
	// Endpoint is the URL of the S3 server, as "http://127.0.0.1:7070"
	// ($AWS_ENDPOINT_URL); "" is AWS S3 (https).
	Endpoint string
	// Region is the bucket's region; "" is "us-east-1".
	Region string
	// AccessKey, SecretKey and SessionToken are the credentials; with no
	// AccessKey and SecretKey, requests are anonymous.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the URL path (http://host/bucket/key)
	// rather than in the host name; it is forced when Endpoint is set.
	PathStyle bool
}

// OptionsFromEnv returns the Options the usual AWS environment variables
// give: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_REGION (else AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3 (else
// AWS_ENDPOINT_URL; the service's own variable wins, as in the AWS SDKs).
func OptionsFromEnv() Options {
	first := func(names ...string) string {
		for _, n := range names {
			if v := os.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	return Options{
		Endpoint:     first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:       first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
	}
}

// maxRetries is how many times minio-go tries a request that fails with a
// transient error (its own retry loop, with 200ms..1s backoff): a few, so
// that a server that is down fails in about a second and the caller's
// retry policy (backend.Retry) decides the rest.
const maxRetries = 3

// Backend is a backend.Backend on an S3 bucket, under a prefix. It is safe
// for concurrent use.
type Backend struct {
	client *minio.Client
	bucket string
	prefix string // "" or ends with "/"
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend on the objects of bucket whose keys start with
// prefix + "/" (prefix "" is the whole bucket; a trailing "/" on prefix is
// dropped). It makes no request: a missing bucket or bad credentials show
// at the first operation.
func New(bucket, prefix string, opts Options) (*Backend, error) {
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return nil, fmt.Errorf("s3: bucket %q: %w", bucket, err)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if !backend.ValidName(prefix) {
			return nil, fmt.Errorf("s3: prefix %q: %w", prefix, backend.ErrBadName)
		}
		prefix += "/"
	}
	host, secure := "s3.amazonaws.com", true
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("s3: endpoint: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("s3: endpoint %q: want a URL http[s]://host[:port]", opts.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
		lookup = minio.BucketLookupPath
	}
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken),
		Secure:       secure,
		Region:       region, // known: no GetBucketLocation request
		BucketLookup: lookup,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Backend{client: client, bucket: bucket, prefix: prefix}, nil
}

// String returns the URL of the storage, "s3://bucket/prefix" (or
// "s3://bucket" with no prefix).
func (b *Backend) String() string {
	if b.prefix == "" {
		return "s3://" + b.bucket
	}
	return "s3://" + b.bucket + "/" + strings.TrimSuffix(b.prefix, "/")
}

// key is the S3 key of an object name.
func (b *Backend) key(name string) string { return b.prefix + name }

// url is the URL of an object, for error messages.
func (b *Backend) url(name string) string { return "s3://" + b.bucket + "/" + b.key(name) }

// Put stores data under name with one PutObject request.
func (b *Backend) Put(ctx context.Context, name string, data []byte) error {
	if err := backend.Begin(ctx, backend.OpPut, name, true); err != nil {
		return err
	}
	return b.put(ctx, backend.OpPut, name, data, minio.PutObjectOptions{})
}

// Create stores data under name with a PutObject request carrying
// If-None-Match: *, so that the server refuses it (backend.ErrExist) when
// the name has an object, atomically.
//
// If the SDK retries a Create whose first attempt took effect but whose
// answer was lost, the retry is refused: the Create returns ErrExist
// though the object is its own. A caller that must tell the two apart
// reads the object (package objlog does).
func (b *Backend) Create(ctx context.Context, name string, data []byte) error {
	if err := backend.Begin(ctx, backend.OpCreate, name, true); err != nil {
		return err
	}
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return b.put(ctx, backend.OpCreate, name, data, opts)
}

// put is a single-part PutObject: the data is in memory, and a multipart
// upload would not keep Create's condition on every server. (S3 takes up
// to 5 GiB in one PutObject.)
func (b *Backend) put(ctx context.Context, op, name string, data []byte, opts minio.PutObjectOptions) error {
	opts.DisableMultipart = true
	opts.ContentType = "application/octet-stream"
	_, err := b.client.PutObject(ctx, b.bucket, b.key(name), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return b.fail(ctx, op, name, err)
	}
	return nil
}

// Get returns the object's bytes, read with one GetObject request.
func (b *Backend) Get(ctx context.Context, name string) ([]byte, error) {
	if err := backend.Begin(ctx, backend.OpGet, name, true); err != nil {
		return nil, err
	}
	return backend.ReadAll(func(w io.Writer) (int64, error) { return b.copyTo(ctx, backend.OpGet, name, w) })
}

// CopyTo writes the object's bytes to w as they arrive (one GetObject
// request); see backend.Copier.
func (b *Backend) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	if err := backend.Begin(ctx, backend.OpGet, name, true); err != nil {
		return 0, err
	}
	return b.copyTo(ctx, backend.OpGet, name, w)
}

// copyTo streams the object into w, checking its length. A failure to
// write w is w's, not the server's: it is not transient.
func (b *Backend) copyTo(ctx context.Context, op, name string, w io.Writer) (int64, error) {
	core := minio.Core{Client: b.client}
	body, info, _, err := core.GetObject(ctx, b.bucket, b.key(name), minio.GetObjectOptions{})
	if err != nil {
		return 0, b.fail(ctx, op, name, err)
	}
	defer body.Close()
	n, werr, rerr := backend.CopyBody(w, body, info.Size)
	if werr != nil {
		return n, fmt.Errorf("backend: %s %s: write the copy: %w", op, name, werr)
	}
	if rerr != nil {
		return n, b.fail(ctx, op, name, rerr)
	}
	return n, nil
}

// Open reads the whole object into memory (one GetObject request); the
// returned Object reads from there, so it keeps the bytes it was opened
// with whatever later happens to the name.
func (b *Backend) Open(ctx context.Context, name string) (backend.Object, error) {
	if err := backend.Begin(ctx, backend.OpOpen, name, true); err != nil {
		return nil, err
	}
	data, err := backend.ReadAll(func(w io.Writer) (int64, error) { return b.copyTo(ctx, backend.OpOpen, name, w) })
	if err != nil {
		return nil, err
	}
	return backend.BytesObject(name, data), nil
}

// List lists the keys under the prefix with ListObjectsV2 (recursively,
// as many pages as there are), sorts them bytewise and returns them
// relative to the Backend's prefix. Keys that are not object names (as
// "dir/", which other tools create) are left out.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := backend.Begin(ctx, backend.OpList, prefix, false); err != nil {
		return nil, err
	}
	names := []string{}
	for info := range b.client.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{
		Prefix:    b.key(prefix),
		Recursive: true,
	}) {
		if info.Err != nil {
			return nil, b.fail(ctx, backend.OpList, prefix, info.Err)
		}
		name, ok := strings.CutPrefix(info.Key, b.prefix)
		if ok && strings.HasPrefix(name, prefix) && backend.ValidName(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Delete removes the object with one DeleteObject request; S3 answers a
// delete of a missing key with success.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := backend.Begin(ctx, backend.OpDelete, name, true); err != nil {
		return err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, b.key(name), minio.RemoveObjectOptions{}); err != nil {
		return b.fail(ctx, backend.OpDelete, name, err)
	}
	return nil
}

// Size returns the object's size from a HeadObject request. A HEAD answer
// has no body, so a 404 does not tell a missing object from a missing
// bucket: on a 404, Size asks whether the bucket exists.
func (b *Backend) Size(ctx context.Context, name string) (int64, error) {
	if err := backend.Begin(ctx, backend.OpSize, name, true); err != nil {
		return 0, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, b.key(name), minio.StatObjectOptions{})
	if err != nil {
		if resp, ok := errorResponse(err); ok && resp.StatusCode == 404 {
			switch ok, berr := b.client.BucketExists(ctx, b.bucket); {
			case berr != nil:
				return 0, b.fail(ctx, backend.OpSize, name, berr)
			case !ok:
				return 0, b.fail(ctx, backend.OpSize, name, minio.ErrorResponse{
					StatusCode: 404, Code: minio.NoSuchBucket, BucketName: b.bucket,
					Message: "The specified bucket does not exist",
				})
			}
		}
		return 0, b.fail(ctx, backend.OpSize, name, err)
	}
	return info.Size, nil
}

// opError is an operation that failed on the server or on the way to it.
type opError struct {
	op, name, url string
	code, msg     string // the server's error code and message; "" if none
	class         error  // backend.ErrNotExist, ErrExist, ErrTransient, ctx.Err() or nil
	err           error  // what minio-go returned
}

func (e *opError) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "backend: %s %s: %s: ", e.op, e.name, e.url)
	if e.code != "" {
		s.WriteString(e.code)
		if e.msg != "" {
			s.WriteString(": " + e.msg)
		}
	} else {
		s.WriteString(e.err.Error())
	}
	if e.class != nil {
		s.WriteString(" (" + e.class.Error() + ")")
	}
	return s.String()
}

func (e *opError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// fail returns err, from minio-go, classified and wrapped with the
// operation, name and URL.
func (b *Backend) fail(ctx context.Context, op, name string, err error) error {
	e := &opError{op: op, name: name, url: b.url(name), err: err}
	if resp, ok := errorResponse(err); ok {
		e.code, e.msg = resp.Code, resp.Message
		if e.code == "" && resp.StatusCode != 0 {
			e.code = fmt.Sprint(resp.StatusCode)
		}
	}
	e.class = classify(ctx, op, err)
	return e
}

// errorResponse returns the server's error in err, if there is one.
func errorResponse(err error) (minio.ErrorResponse, bool) {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp, true
	}
	var p *minio.ErrorResponse
	if errors.As(err, &p) && p != nil {
		return *p, true
	}
	return minio.ErrorResponse{}, false
}

// transientCodes are S3 error codes that a later try may not get.
var transientCodes = map[string]bool{
	"InternalError": true, "ServiceUnavailable": true, "SlowDown": true,
	"SlowDownRead": true, "SlowDownWrite": true, "Throttling": true,
	"ThrottlingException": true, "RequestLimitExceeded": true,
	"RequestThrottled": true, "RequestTimeout": true, "RequestError": true,
	"OperationAborted": true,
}

// classify returns the backend error class of err: ErrNotExist, ErrExist,
// ErrTransient, ctx.Err() when ctx ended during the operation, or nil for
// a permanent error.
func classify(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if resp, ok := errorResponse(err); ok {
		switch {
		case resp.Code == minio.NoSuchKey:
			return backend.ErrNotExist
		case op == backend.OpCreate && (resp.StatusCode == 412 || resp.Code == "PreconditionFailed"):
			return backend.ErrExist
		case op == backend.OpCreate && resp.Code == "ConditionalRequestConflict":
			// AWS: a concurrent conditional write of the key; the
			// outcome is known only by trying again.
			return backend.ErrTransient
		case resp.StatusCode == 0:
			// Made up by minio-go on this side (a bad argument, an
			// answer it could not parse): no answer of the server's.
			return nil
		case transientCodes[resp.Code] || resp.StatusCode >= 500 ||
			resp.StatusCode == 429 || resp.StatusCode == 408:
			return backend.ErrTransient
		}
		return nil
	}
	var uerr *url.Error
	var nerr net.Error
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT):
		return backend.ErrTransient
	case errors.As(err, &nerr) && nerr.Timeout():
		return backend.ErrTransient
	case errors.As(err, &uerr) && !certError(uerr):
		// The request did not get an answer: connection refused,
		// reset, DNS failure, ...
		return backend.ErrTransient
	}
	return nil
}

// certError reports whether a request failed on the server's TLS
// certificate, which trying again does not cure.
func certError(err *url.Error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &header)
}
