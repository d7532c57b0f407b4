package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/config"
)

// newSQSClient builds the SQS client for the resolved queue settings.
// Credentials come from the AWS default chain (env, shared files, ECS task
// role, IRSA, Pod Identity). The endpoint is the one config resolved with
// Hookline's precedence; it is set as BaseEndpoint, which beats the SDK's
// own environment lookup.
func newSQSClient(ctx context.Context, q config.Queue) (*sqs.Client, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(q.Region))
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if q.EndpointURL != "" {
			o.BaseEndpoint = aws.String(q.EndpointURL)
		}
	}), nil
}
