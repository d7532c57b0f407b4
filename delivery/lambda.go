package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/signing"
)

// Lambda invocation payload limits (AWS limits), and the room kept for the
// soketi envelope around the body.
const (
	MaxEventPayload           = 1 << 20 // Event (asynchronous) invocations
	MaxRequestResponsePayload = 6 << 20 // RequestResponse (synchronous) invocations
	LambdaEnvelopeRoom        = 4 << 10
)

// Invoker is the part of *lambda.Client the Lambda sender calls.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ Invoker = (*lambda.Client)(nil)

// LambdaOptions configure the Lambda sender.
type LambdaOptions struct {
	// AWS is the base configuration: credentials (the default chain) and
	// the default region.
	AWS aws.Config
	// NewClient builds the client for one (region, endpoint); default
	// lambda.NewFromConfig with the SDK's retries off.
	NewClient func(region, endpoint string) Invoker
}

// Lambda invokes AWS Lambda functions as webhook targets. One client per
// (region, endpoint) is built on first use and reused. Each Send is exactly
// one Invoke: an SDK retry could run the function twice, and the queue owns
// retries.
type Lambda struct {
	newClient func(region, endpoint string) Invoker
	mu        sync.Mutex
	clients   map[[2]string]Invoker
}

var _ Sender = (*Lambda)(nil)

// NewLambda returns a Lambda sender.
func NewLambda(opts LambdaOptions) *Lambda {
	l := &Lambda{newClient: opts.NewClient, clients: map[[2]string]Invoker{}}
	if l.newClient == nil {
		base := opts.AWS
		l.newClient = func(region, endpoint string) Invoker {
			return lambda.NewFromConfig(base, func(o *lambda.Options) {
				if region != "" {
					o.Region = region
				}
				if endpoint != "" {
					o.BaseEndpoint = aws.String(endpoint)
				}
				o.Retryer = aws.NopRetryer{} // one attempt per delivery
			})
		}
	}
	return l
}

func (l *Lambda) client(region, endpoint string) Invoker {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{region, endpoint}
	c, ok := l.clients[k]
	if !ok {
		c = l.newClient(region, endpoint)
		l.clients[k] = c
	}
	return c
}

// Send invokes the webhook's function once and classifies the result.
func (l *Lambda) Send(ctx context.Context, req *Request) Outcome {
	start := time.Now()
	out := l.send(ctx, req)
	out.Duration = time.Since(start)
	return out
}

func (l *Lambda) send(ctx context.Context, req *Request) Outcome {
	if req == nil || req.Webhook == nil || req.Webhook.Lambda == nil {
		return Outcome{Class: Permanent, Reason: "invalid-request", Detail: "no Lambda target"}
	}
	lc := req.Webhook.Lambda
	payload, err := lambdaPayload(req)
	if err != nil {
		return Outcome{Class: Permanent, Reason: "invalid-request", Detail: err.Error()}
	}
	in := &lambda.InvokeInput{
		FunctionName:   aws.String(lc.FunctionName),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	}
	if lc.InvocationType == string(types.InvocationTypeRequestResponse) {
		in.InvocationType = types.InvocationTypeRequestResponse
	}
	if lc.Qualifier != "" {
		in.Qualifier = aws.String(lc.Qualifier)
	}
	timeout := req.Webhook.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultHTTPRequestTimeout
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errRequestTimeout)
	defer cancel()
	res, err := l.client(lc.Region, lc.EndpointURL).Invoke(rctx, in)
	if err != nil {
		return classifyLambdaError(ctx, rctx, err, timeout)
	}
	status := int(res.StatusCode)
	if res.FunctionError != nil {
		return Outcome{Class: Retryable, Status: status, Reason: "lambda-function-error",
			Detail: truncate(aws.ToString(res.FunctionError) + ": " + string(res.Payload))}
	}
	return Outcome{Class: Delivered, Status: status}
}

// lambdaPayload is the invocation payload: the signed Pusher body as is
// (Sockudo's shape), or soketi's {"payload": body, "headers": {...}} with
// the body embedded byte for byte, so the signature still verifies over the
// raw JSON of "payload".
func lambdaPayload(req *Request) ([]byte, error) {
	if req.Webhook.Lambda.PayloadFormat != "soketi" {
		return req.Body, nil
	}
	headers := map[string]string{
		"Content-Type":          "application/json",
		signing.HeaderKey:       req.AppKey,
		signing.HeaderSignature: req.Signature,
		"X-Hookline-Attempt":    strconv.Itoa(req.Attempt),
	}
	for k, v := range req.Webhook.Headers {
		if _, taken := headers[k]; !taken {
			headers[k] = v
		}
	}
	return json.Marshal(struct {
		Payload json.RawMessage   `json:"payload"`
		Headers map[string]string `json:"headers"`
	}{json.RawMessage(req.Body), headers})
}

// classifyLambdaError maps an Invoke error to an outcome (DESIGN §2).
func classifyLambdaError(parent, rctx context.Context, err error, timeout time.Duration) Outcome {
	var (
		throttled *types.TooManyRequestsException
		notFound  *types.ResourceNotFoundException
		tooLarge  *types.RequestTooLargeException
		invalid   *types.InvalidRequestContentException
	)
	switch {
	case errors.As(err, &throttled):
		o := Outcome{Class: Retryable, Status: http.StatusTooManyRequests, Reason: "lambda-throttled",
			Detail: truncate(throttled.ErrorMessage())}
		if s, perr := strconv.Atoi(strings.TrimSpace(aws.ToString(throttled.RetryAfterSeconds))); perr == nil {
			o.RetryAfter = ClampRetryAfter(time.Duration(s) * time.Second)
		}
		return o
	case errors.As(err, &notFound):
		return Outcome{Class: Permanent, Status: http.StatusNotFound, Reason: "lambda-not-found", Detail: truncate(notFound.ErrorMessage())}
	case errors.As(err, &tooLarge):
		return Outcome{Class: TooLarge, Status: http.StatusRequestEntityTooLarge, Reason: "lambda-request-too-large", Detail: truncate(tooLarge.ErrorMessage())}
	case errors.As(err, &invalid):
		return Outcome{Class: Permanent, Status: http.StatusBadRequest, Reason: "lambda-invalid-request", Detail: truncate(invalid.ErrorMessage())}
	}
	if parent.Err() != nil {
		return Outcome{Class: Retryable, Reason: "canceled", Detail: "delivery canceled"}
	}
	if errors.Is(context.Cause(rctx), errRequestTimeout) {
		return Outcome{Class: Retryable, Reason: "timeout", Detail: fmt.Sprintf("no answer within %v", timeout)}
	}
	var api smithy.APIError
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() > 0 {
		status := resp.HTTPStatusCode()
		code := "http"
		if errors.As(err, &api) {
			code = api.ErrorCode()
		}
		o := Outcome{Status: status, Reason: "lambda-" + code, Detail: truncate(err.Error())}
		switch {
		case status == http.StatusTooManyRequests || status >= 500:
			o.Class = Retryable
		default:
			o.Class = Permanent
		}
		return o
	}
	return Outcome{Class: Retryable, Reason: "transport-error", Detail: truncate(err.Error())}
}

// ClientFor returns the sender's client for (region, endpoint), building it
// on first use.
func (l *Lambda) ClientFor(region, endpoint string) Invoker { return l.client(region, endpoint) }
