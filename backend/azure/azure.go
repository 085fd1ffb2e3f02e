// Package azure is a backend.Backend on an Azure Blob Storage container,
// through the official SDK (azblob).
//
// Every object is a block blob named prefix/name in the container. Put and
// Create upload the whole object in one Put Blob request (atomic; at most
// 5000 MiB), with its MD5 for the service to check; Create adds
// If-None-Match: *, so that of concurrent Creates of one name exactly one
// succeeds. Get and Open download the whole blob in one request: an open
// Object holds the bytes in memory, so a later Delete or Put of the name
// does not change what it reads. List lists the blobs under the prefix,
// flat, and returns their names relative to the prefix, sorted bytewise.
//
// # Errors
//
// A missing blob is backend.ErrNotExist (Get, Open, Size) and a Create
// refused because the blob exists is backend.ErrExist. Server errors
// (5xx), throttling (429), timeouts and dropped or refused connections
// wrap backend.ErrTransient, once the SDK's own retries (a few, over a few
// seconds) are spent. Anything else (no such container, bad credentials,
// access denied) is permanent; its message names the operation, the blob
// and the service's error code:
//
//	azure: put azure://c/p/wal/00000000000000000001.log: ContainerNotFound: The specified container does not exist.
//
// The errors wrap the SDK's *azcore.ResponseError when there is one.
//
// A Create whose first attempt took effect but whose answer was lost is
// retried by the SDK and then refused with backend.ErrExist; callers that
// care compare the object with what they meant to create.
package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/pwlog/pwlog/backend"
)

// Options say how to reach the storage account.
type Options struct {
	// ConnectionString is an Azure Storage connection string, with the
	// account name and key and, for an emulator such as Azurite, the
	// BlobEndpoint:
	//
	//	DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;
	ConnectionString string
}

// OptionsFromEnv returns the Options in the environment:
// AZURE_STORAGE_CONNECTION_STRING.
func OptionsFromEnv() Options {
	return Options{ConnectionString: os.Getenv("AZURE_STORAGE_CONNECTION_STRING")}
}

// The SDK's retry policy: a few tries over a few seconds, so that a server
// that is down fails fast with backend.ErrTransient and the caller's own
// retry (backend.Retry) decides what to do next.
var retryOptions = policy.RetryOptions{
	MaxRetries:    3,
	TryTimeout:    time.Minute,
	RetryDelay:    200 * time.Millisecond,
	MaxRetryDelay: 2 * time.Second,
}

// Backend stores objects as block blobs in one container, under a prefix.
// It is safe for concurrent use.
type Backend struct {
	client    *container.Client
	container string
	prefix    string // "" or ending in "/"
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend on the blobs of container whose names start with
// prefix + "/" (prefix "" for the whole container; slashes around prefix
// are ignored). It makes no request: a missing container or bad
// credentials show at the first operation.
func New(containerName, prefix string, opts Options) (*Backend, error) {
	if containerName == "" || strings.Contains(containerName, "/") {
		return nil, fmt.Errorf("azure: bad container name %q", containerName)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if !backend.ValidName(prefix) {
			return nil, fmt.Errorf("azure: bad prefix %q: %w", prefix, backend.ErrBadName)
		}
		prefix += "/"
	}
	if opts.ConnectionString == "" {
		return nil, errors.New("azure: no connection string (AZURE_STORAGE_CONNECTION_STRING)")
	}
	clientOpts := &container.ClientOptions{}
	clientOpts.Retry = retryOptions
	client, err := container.NewClientFromConnectionString(opts.ConnectionString, containerName, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("azure: bad connection string: %w", err)
	}
	return &Backend{client: client, container: containerName, prefix: prefix}, nil
}

// String returns "azure://container/prefix" ("azure://container" without
// a prefix).
func (b *Backend) String() string {
	if b.prefix == "" {
		return "azure://" + b.container
	}
	return "azure://" + b.container + "/" + strings.TrimSuffix(b.prefix, "/")
}

// url names the blob of an object in errors.
func (b *Backend) url(name string) string {
	return "azure://" + b.container + "/" + b.prefix + name
}

// Put uploads data as the blob of name, replacing any; see backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, data []byte) error {
	if err := backend.Begin(ctx, backend.OpPut, name, true); err != nil {
		return err
	}
	return b.upload(ctx, backend.OpPut, name, data, nil)
}

// Create uploads data as the blob of name with If-None-Match: *; see
// backend.Backend.
func (b *Backend) Create(ctx context.Context, name string, data []byte) error {
	if err := backend.Begin(ctx, backend.OpCreate, name, true); err != nil {
		return err
	}
	cond := &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
		IfNoneMatch: to.Ptr(azcore.ETagAny),
	}}
	return b.upload(ctx, backend.OpCreate, name, data, cond)
}

// upload is Put, or Create with cond.
func (b *Backend) upload(ctx context.Context, op, name string, data []byte, cond *blob.AccessConditions) error {
	sum := md5.Sum(data)
	_, err := b.client.NewBlockBlobClient(b.prefix+name).Upload(ctx,
		streaming.NopCloser(bytes.NewReader(data)),
		&blockblob.UploadOptions{
			AccessConditions:        cond,
			TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
		})
	if err == nil {
		return nil
	}
	if cond != nil && refusedCreate(err) {
		return wrap(op, name, backend.ErrExist)
	}
	return b.fail(ctx, op, name, err)
}

// refusedCreate reports whether err is the service refusing a Create
// because the blob exists.
func refusedCreate(err error) bool {
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == 412
}

// Get downloads the blob of name; see backend.Backend.
func (b *Backend) Get(ctx context.Context, name string) ([]byte, error) {
	if err := backend.Begin(ctx, backend.OpGet, name, true); err != nil {
		return nil, err
	}
	return backend.ReadAll(func(w io.Writer) (int64, error) { return b.copyTo(ctx, backend.OpGet, name, w) })
}

// CopyTo writes the blob's bytes to w as they arrive (one request); see
// backend.Copier.
func (b *Backend) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	if err := backend.Begin(ctx, backend.OpGet, name, true); err != nil {
		return 0, err
	}
	return b.copyTo(ctx, backend.OpGet, name, w)
}

// copyTo streams the blob into w, checking its length and, when the
// service gives it, its MD5. A failure to write w is w's, not the
// service's: it is not transient.
func (b *Backend) copyTo(ctx context.Context, op, name string, w io.Writer) (int64, error) {
	resp, err := b.client.NewBlobClient(b.prefix+name).DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return 0, wrap(op, name, backend.ErrNotExist)
		}
		return 0, b.fail(ctx, op, name, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength == nil || *resp.ContentLength < 0 {
		return 0, b.fail(ctx, op, name, errors.New("the response has no Content-Length"))
	}
	h := md5.New()
	n, werr, rerr := backend.CopyBody(w, io.TeeReader(resp.Body, h), *resp.ContentLength)
	if werr != nil {
		return n, fmt.Errorf("backend: %s %s: write the copy: %w", op, name, werr)
	}
	if rerr != nil {
		return n, b.fail(ctx, op, name, fmt.Errorf("reading the body: %w", rerr))
	}
	if want := resp.ContentMD5; len(want) == md5.Size && !bytes.Equal(h.Sum(nil), want) {
		return n, b.fail(ctx, op, name, errChecksum)
	}
	return n, nil
}

// errChecksum is a download whose bytes do not have the blob's MD5.
var errChecksum = errors.New("the bytes read do not match the blob's Content-MD5")

// Open downloads the blob of name into memory; see backend.Backend.
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

// List lists the blobs under the prefix whose names start with prefix; see
// backend.Backend. Blobs whose relative names break the naming rules (put
// there by other programs) are left out.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := backend.Begin(ctx, backend.OpList, prefix, false); err != nil {
		return nil, err
	}
	pager := b.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix: to.Ptr(b.prefix + prefix),
	})
	names := []string{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, b.fail(ctx, backend.OpList, prefix, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			name, ok := strings.CutPrefix(*item.Name, b.prefix)
			if ok && strings.HasPrefix(name, prefix) && backend.ValidName(name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Delete deletes the blob of name; a missing blob is not an error. See
// backend.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := backend.Begin(ctx, backend.OpDelete, name, true); err != nil {
		return err
	}
	_, err := b.client.NewBlobClient(b.prefix+name).Delete(ctx, nil)
	if err == nil || bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	return b.fail(ctx, backend.OpDelete, name, err)
}

// Size returns the blob's Content-Length; see backend.Backend.
func (b *Backend) Size(ctx context.Context, name string) (int64, error) {
	if err := backend.Begin(ctx, backend.OpSize, name, true); err != nil {
		return 0, err
	}
	props, err := b.client.NewBlobClient(b.prefix+name).GetProperties(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return 0, wrap(backend.OpSize, name, backend.ErrNotExist)
		}
		return 0, b.fail(ctx, backend.OpSize, name, err)
	}
	if props.ContentLength == nil || *props.ContentLength < 0 {
		return 0, b.fail(ctx, backend.OpSize, name, errors.New("the response has no Content-Length"))
	}
	return *props.ContentLength, nil
}
