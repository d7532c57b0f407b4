package sqsmem_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/localstack/sqsmem"
)

func Example() {
	ctx := context.Background()
	srv := sqsmem.New()
	mainURL, dlqURL := srv.CreatePair("hookline", false, 30*time.Second, 1)
	c := srv.Client() // fits worker.SQS, queues.API, or any interface of *sqs.Client methods

	_, _ = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(mainURL), MessageBody: aws.String(`{"id":"e1"}`)})
	out, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(mainURL),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	m := out.Messages[0]
	fmt.Println(*m.Body, "attempt", m.Attributes["ApproximateReceiveCount"])

	// Hand it back at once; the next receive exceeds maxReceiveCount 1 and dead-letters it.
	_, _ = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(mainURL),
		ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
	out, _ = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(mainURL)})
	fmt.Println("received:", len(out.Messages))
	for _, dm := range srv.Peek(dlqURL) {
		fmt.Println("dead-lettered:", dm.Body, dm.State)
	}
	fmt.Println(srv.Calls())
	// Output:
	// {"id":"e1"} attempt 1
	// received: 0
	// dead-lettered: {"id":"e1"} visible
	// map[ChangeMessageVisibility:1 ReceiveMessage:2 SendMessage:1]
}

func ExampleFault() {
	ctx := context.Background()
	srv := sqsmem.New()
	url, _ := srv.CreatePair("hookline", false, 30*time.Second, 5)
	c := srv.Client()
	_, _ = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("m")})
	out, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})

	// Every delete entry fails as a server-side error: a partial batch failure to handle.
	srv.SetFault(sqsmem.Fault{Entry: func(op, id string) string {
		if op == "DeleteMessageBatch" {
			return "InternalError"
		}
		return ""
	}})
	res, _ := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url),
		Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: out.Messages[0].ReceiptHandle}}})
	f := res.Failed[0]
	fmt.Println(*f.Id, *f.Code, "sender fault:", f.SenderFault, "left:", len(srv.Peek(url)))
	// Output:
	// 0 InternalError sender fault: false left: 1
}
