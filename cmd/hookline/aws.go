package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/config"
)

// loadAWS loads the AWS configuration for region from the default chain
// (env, shared files, ECS task role, IRSA, Pod Identity).
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return awsCfg, nil
}

// sqsClient builds the SQS client for the resolved queue settings. The
// endpoint is the one config resolved with Hookline's precedence; it is set
// as BaseEndpoint, which beats the SDK's own environment lookup.
func sqsClient(awsCfg aws.Config, q config.Queue) *sqs.Client {
	return sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if q.EndpointURL != "" {
			o.BaseEndpoint = aws.String(q.EndpointURL)
		}
	})
}

// newSQSClient loads the AWS configuration and builds the SQS client.
func newSQSClient(ctx context.Context, q config.Queue) (*sqs.Client, error) {
	awsCfg, err := loadAWS(ctx, q.Region)
	if err != nil {
		return nil, err
	}
	return sqsClient(awsCfg, q), nil
}
