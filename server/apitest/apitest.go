// Package apitest holds the code to the mobile API document: it loads the
// embedded OpenAPI spec (mobile-api-docs/openapi.yaml) once, validates real
// requests and responses against it with kin-openapi, and lints the spec.
//
// End-to-end tests wrap their HTTP client's transport:
//
//	hc := &http.Client{Transport: apitest.Transport(t, http.DefaultTransport)}
//
// and every request and response that passes through is checked. A request
// the spec calls invalid is fine only when the server refused it with a
// documented 4xx (that is how tests of bad input look); a response must
// always match the spec: a documented status, a body matching its schema,
// and an error code whose status is the one in httpapi's table. Paths the
// spec does not know are fine only when the server answered 404 or 405.
package apitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	mobiledocs "github.com/doorstep-dev/doorstep/mobile-api-docs"
	"github.com/doorstep-dev/doorstep/server/httpapi"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// LoadSpec parses and resolves an OpenAPI document. External references are
// refused: the spec must stand alone.
func LoadSpec(data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	return doc, nil
}

var (
	sharedOnce sync.Once
	shared     *Validator
	sharedErr  error
)

// Load returns the validator for the embedded spec, built once per process.
func Load() (*Validator, error) {
	sharedOnce.Do(func() {
		doc, err := LoadSpec(mobiledocs.Spec())
		if err != nil {
			sharedErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			sharedErr = fmt.Errorf("validate spec: %w", err)
			return
		}
		shared, sharedErr = New(doc)
	})
	return shared, sharedErr
}

// Validator checks requests and responses against one spec.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// New builds a validator over a loaded, valid document.
func New(doc *openapi3.T) (*Validator, error) {
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("spec router: %w", err)
	}
	return &Validator{doc: doc, router: r}, nil
}

// Doc is the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// RouteError says that the spec has no operation for a request.
type RouteError struct {
	Method, Path string
	Err          error
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("%s %s is not in the spec: %v", e.Method, e.Path, e.Err)
}

func (e *RouteError) Unwrap() error { return e.Err }

// ValidateRequest checks a request against its operation: path, query and
// header parameters, the bearer token's presence where security asks for it,
// and the body (gzip-decoded when sent compressed). The request's body is
// left readable. A path or method the spec does not know is a *RouteError.
func (v *Validator) ValidateRequest(req *http.Request) error {
	in, err := v.requestInput(req)
	if err != nil {
		return err
	}
	return v.validateRequestInput(req.Context(), in)
}

func (v *Validator) validateRequestInput(ctx context.Context, in *openapi3filter.RequestValidationInput) error {
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return fmt.Errorf("request %s %s: %w", in.Request.Method, in.Request.URL.Path, err)
	}
	return nil
}

// requestInput finds the operation and prepares a copy of req whose body is
// plain JSON, whatever the wire encoding was.
func (v *Validator) requestInput(req *http.Request) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, &RouteError{Method: req.Method, Path: req.URL.Path, Err: err}
	}
	body, err := peekBody(&req.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	plain := req.Clone(req.Context())
	if strings.EqualFold(strings.TrimSpace(req.Header.Get("Content-Encoding")), "gzip") {
		if body, err = gunzip(body); err != nil {
			return nil, fmt.Errorf("request %s %s: gzip body: %w", req.Method, req.URL.Path, err)
		}
		plain.Header.Del("Content-Encoding")
	}
	// The server reads every body as JSON whatever its Content-Type says;
	// judge an unlabelled body as what the server takes it for.
	if len(body) > 0 && plain.Header.Get("Content-Type") == "" {
		plain.Header.Set("Content-Type", "application/json")
	}
	plain.Body = io.NopCloser(bytes.NewReader(body))
	plain.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	plain.ContentLength = int64(len(body))
	opts := &openapi3filter.Options{AuthenticationFunc: checkCredentials, MultiError: true}
	// A file upload is judged by its media type only: its content is the
	// service's to parse (and to refuse with a 400 the spec documents).
	if ct := mediaType(plain.Header.Get("Content-Type")); len(body) > 0 && isFileType(ct) {
		if rb := route.Operation.RequestBody; rb == nil || rb.Value == nil || rb.Value.Content.Get(ct) == nil {
			return nil, fmt.Errorf("request %s %s: body of type %s is not in the spec", req.Method, req.URL.Path, ct)
		}
		opts.ExcludeRequestBody = true
	}
	return &openapi3filter.RequestValidationInput{
		Request:    plain,
		PathParams: params,
		Route:      route,
		Options:    opts,
	}, nil
}

func mediaType(h string) string {
	t, _, _ := strings.Cut(h, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// isFileType reports whether a body is a file (a list upload, a report
// download) rather than a JSON document.
func isFileType(ct string) bool { return fileTypes[ct] }

// checkCredentials stands in for the server's authentication: the spec can
// only say that a bearer token must be present, not whether it is good.
func checkCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s == nil || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q is not supported by apitest", in.SecuritySchemeName)
	}
	token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// ValidateResponse checks a response against the operation of its request:
// the status must be documented, the body must match (gzip-decoded when
// compressed), and an error body's code must map to the response's status
// in httpapi's table. The response's body is left readable.
func (v *Validator) ValidateResponse(req *http.Request, resp *http.Response) error {
	in, err := v.requestInput(req)
	if err != nil {
		return err
	}
	return v.validateResponseInput(req.Context(), in, resp)
}

func (v *Validator) validateResponseInput(ctx context.Context, in *openapi3filter.RequestValidationInput, resp *http.Response) error {
	body, err := peekBody(&resp.Body)
	if err != nil {
		return fmt.Errorf("read response body: %w", err)
	}
	// An empty body carries nothing to decode, whatever the header says
	// (the gzip middleware labels bodiless 204s too).
	if len(body) > 0 && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		if body, err = gunzip(body); err != nil {
			return fmt.Errorf("response to %s %s: gzip body: %w", in.Request.Method, in.Request.URL.Path, err)
		}
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if ct := mediaType(resp.Header.Get("Content-Type")); isFileType(ct) {
		// A download: the spec must list its media type; its bytes are a file.
		r := in.Route.Operation.Responses.Status(resp.StatusCode)
		if r == nil || r.Value == nil || r.Value.Content.Get(ct) == nil {
			return fmt.Errorf("response %d to %s %s: a %s body is not in the spec", resp.StatusCode, in.Request.Method, in.Request.URL.Path, ct)
		}
		opts.ExcludeResponseBody = true
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	})
	if err != nil {
		return fmt.Errorf("response %d to %s %s: %w\nbody: %s", resp.StatusCode, in.Request.Method, in.Request.URL.Path, err, clip(body))
	}
	if resp.StatusCode >= 400 {
		if err := checkErrorStatus(resp.StatusCode, body); err != nil {
			return fmt.Errorf("response %d to %s %s: %w", resp.StatusCode, in.Request.Method, in.Request.URL.Path, err)
		}
	}
	return nil
}

// checkErrorStatus holds an error body to the code → status table.
func checkErrorStatus(status int, body []byte) error {
	var e syncproto.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return fmt.Errorf("error response without an error body: %s", clip(body))
	}
	if want := httpapi.StatusOf(e.Code); want != status {
		return fmt.Errorf("error code %q belongs with status %d, not %d", e.Code, want, status)
	}
	return nil
}

// Check judges one exchange as the Transport does and returns what is wrong
// with it, or nil.
func (v *Validator) Check(req *http.Request, resp *http.Response) error {
	in, err := v.requestInput(req)
	var re *RouteError
	if errors.As(err, &re) {
		// The server must agree that the endpoint does not exist.
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			body, berr := peekBody(&resp.Body)
			if berr != nil {
				return berr
			}
			if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
				if body, berr = gunzip(body); berr != nil {
					return berr
				}
			}
			return checkErrorStatus(resp.StatusCode, body)
		}
		return fmt.Errorf("undocumented endpoint: %w; the server answered %d", re, resp.StatusCode)
	}
	if err != nil {
		return err
	}
	reqErr := v.validateRequestInput(req.Context(), in)
	if err := v.validateResponseInput(req.Context(), in, resp); err != nil {
		return err
	}
	if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		return fmt.Errorf("the spec calls this request invalid but the server answered %d: %w", resp.StatusCode, reqErr)
	}
	return nil
}

// TB is the part of testing.TB that Transport uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Transport wraps base (http.DefaultTransport when nil) so that every
// exchange through it is checked against the embedded spec; a mismatch fails
// t with Errorf and the test carries on with the real response. Bodies are
// buffered, so do not stream through it.
func Transport(t TB, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &checkingTransport{t: t, v: v, base: base}
}

type checkingTransport struct {
	t    TB
	v    *Validator
	base http.RoundTripper
}

func (c *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := req.Clone(req.Context())
	reset := func(r *http.Request) {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
	}
	reset(out)
	resp, err := c.base.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	seen := req.Clone(req.Context())
	reset(seen)
	if err := c.v.Check(seen, resp); err != nil {
		c.t.Errorf("apitest: the API and mobile-api-docs/openapi.yaml disagree: %v", err)
	}
	return resp, nil
}

// peekBody reads *rc completely and puts back a reader over the same bytes.
func peekBody(rc *io.ReadCloser) ([]byte, error) {
	if *rc == nil || *rc == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(*rc)
	(*rc).Close()
	*rc = io.NopCloser(bytes.NewReader(b))
	return b, err
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

func clip(b []byte) string {
	const max = 600
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
