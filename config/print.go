package config

import (
	"encoding/json"
	"io"
	"sort"
)

// WriteRedacted writes the resolved configuration as indented JSON with
// every secret and every custom header value replaced by "[redacted]"
// (headers often carry tokens). Durations are in the units of the file.
func (c *Config) WriteRedacted(w io.Writer) error {
	type lambdaView struct {
		FunctionName   string `json:"function_name"`
		InvocationType string `json:"invocation_type"`
		Qualifier      string `json:"qualifier,omitempty"`
		Region         string `json:"region"`
		EndpointURL    string `json:"endpoint_url,omitempty"`
		PayloadFormat  string `json:"payload_format"`
	}
	type retryView struct {
		Enabled          bool  `json:"enabled"`
		MaxAttempts      int   `json:"max_attempts"`
		InitialBackoffMS int64 `json:"initial_backoff_ms"`
		MaxBackoffMS     int64 `json:"max_backoff_ms"`
		MaxElapsedTimeMS int64 `json:"max_elapsed_time_ms"`
	}
	type filterView struct {
		ChannelType       string   `json:"channel_type,omitempty"`
		ChannelPrefix     string   `json:"channel_prefix,omitempty"`
		ChannelSuffix     string   `json:"channel_suffix,omitempty"`
		ChannelPattern    string   `json:"channel_pattern,omitempty"`
		ChannelNamespace  string   `json:"channel_namespace,omitempty"`
		ChannelNamespaces []string `json:"channel_namespaces,omitempty"`
	}
	type webhookView struct {
		ID               string            `json:"id"`
		Path             string            `json:"path"`
		URL              string            `json:"url,omitempty"`
		Lambda           *lambdaView       `json:"lambda,omitempty"`
		Headers          map[string]string `json:"headers,omitempty"`
		EventTypes       []string          `json:"event_types"`
		Filter           *filterView       `json:"filter,omitempty"`
		RequestTimeoutMS int64             `json:"request_timeout_ms"`
		MaxBodyBytes     int               `json:"max_body_bytes"`
		Retry            retryView         `json:"retry"`
	}
	type appView struct {
		ID       string        `json:"id"`
		Key      string        `json:"key"`
		Secret   Secret        `json:"secret"`
		Enabled  bool          `json:"enabled"`
		Webhooks []webhookView `json:"webhooks"`
	}
	retry := func(r Retry) retryView {
		return retryView{r.Enabled, r.MaxAttempts, r.InitialBackoff.Milliseconds(),
			r.MaxBackoff.Milliseconds(), r.MaxElapsedTime.Milliseconds()}
	}
	apps := make([]appView, 0, len(c.Apps))
	for _, a := range c.Apps {
		av := appView{ID: a.ID, Key: a.Key, Secret: a.Secret, Enabled: a.Enabled, Webhooks: []webhookView{}}
		for _, wh := range a.Webhooks {
			wv := webhookView{
				ID: wh.ID, Path: wh.Path, URL: wh.URL, EventTypes: wh.FilterSpec.EventTypes,
				RequestTimeoutMS: wh.RequestTimeout.Milliseconds(), MaxBodyBytes: wh.MaxBodyBytes,
				Retry: retry(wh.Retry),
			}
			if l := wh.Lambda; l != nil {
				wv.Lambda = &lambdaView{l.FunctionName, l.InvocationType, l.Qualifier, l.Region, l.EndpointURL, l.PayloadFormat}
			}
			if len(wh.Headers) > 0 {
				names := make([]string, 0, len(wh.Headers))
				for k := range wh.Headers {
					names = append(names, k)
				}
				sort.Strings(names)
				wv.Headers = make(map[string]string, len(names))
				for _, k := range names {
					wv.Headers[k] = Redacted
				}
			}
			f := wh.FilterSpec
			if fv := (filterView{f.ChannelType, f.ChannelPrefix, f.ChannelSuffix, f.ChannelPattern,
				f.ChannelNamespace, f.ChannelNamespaces}); fv.ChannelType != "" || fv.ChannelPrefix != "" ||
				fv.ChannelSuffix != "" || fv.ChannelPattern != "" || fv.ChannelNamespace != "" || len(fv.ChannelNamespaces) > 0 {
				wv.Filter = &fv
			}
			av.Webhooks = append(av.Webhooks, wv)
		}
		apps = append(apps, av)
	}
	q := c.Queue
	view := map[string]any{
		"apps": apps,
		"webhooks": map[string]any{
			"batching": map[string]any{
				"enabled":  c.Webhooks.Batching.Enabled,
				"duration": c.Webhooks.Batching.Duration.Milliseconds(),
				"size":     c.Webhooks.Batching.Size,
			},
			"retry":              retry(c.Webhooks.Retry),
			"request_timeout_ms": c.Webhooks.RequestTimeout.Milliseconds(),
			"event_ids":          c.Webhooks.EventIDs,
			"max_body_bytes":     c.Webhooks.MaxBodyBytes,
		},
		"queue": map[string]any{
			"driver": q.Driver,
			"sqs": map[string]any{
				"region":                 q.Region,
				"endpoint_url":           q.EndpointURL,
				"queue_url":              q.QueueURL,
				"queue_url_prefix":       q.QueueURLPrefix,
				"queue_name":             q.MainQueueName(),
				"dead_letter_queue_name": q.DLQName(),
				"visibility_timeout":     int64(q.VisibilityTimeout.Seconds()),
				"wait_time_seconds":      q.WaitTimeSeconds,
				"max_messages":           q.MaxMessages,
				"concurrency":            q.Concurrency,
				"fifo":                   q.FIFO,
				"fair_queues":            q.FairQueues,
			},
		},
		"shutdown_grace_period": int64(c.ShutdownGracePeriod.Seconds()),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(view)
}
