package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/config"
)

// loadAWS loads the AWS configuration for region from the default chain
// (env, shared files, ECS task role, IRSA, Pod Identity).
//
// It fetches the credentials once, so that a machine without any fails at
// startup saying what to set, not at the first SQS call with the SDK's
// "failed to refresh cached credentials".
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if awsCfg.Credentials == nil {
		return aws.Config{}, errors.New("aws config: no credentials provider")
	}
	cctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	if _, err := awsCfg.Credentials.Retrieve(cctx); err != nil {
		// The chain's error says which source failed and why (no source
		// at all, or a role whose trust policy refuses this workload).
		return aws.Config{}, fmt.Errorf("could not get AWS credentials (%w); without any, set AWS_ACCESS_KEY_ID and "+
			"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role (ECS task role, EKS IRSA or Pod Identity: "+
			"if one is set up, the cause above says why it was refused); for a local emulator any values do, "+
			"e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test", err)
	}
	return awsCfg, nil
}

// credentialsTimeout bounds the first credentials fetch (the instance
// metadata service, an STS web-identity exchange).
const credentialsTimeout = 15 * time.Second

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
