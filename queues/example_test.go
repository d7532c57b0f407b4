package queues

import (
	"context"
	"fmt"
	"os"
)

func ExampleEnsure() {
	// In the CLI, api is an *sqs.Client; here an in-memory fake stands in for SQS.
	var api API = newFake()
	ctx := context.Background()

	res, err := Ensure(ctx, api, Spec{Name: "orders", DisableSSE: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Print(os.Stdout)

	// A second run finds both queues as specified and changes nothing.
	res, _ = Ensure(ctx, api, Spec{Name: "orders", DisableSSE: true})
	fmt.Println(res.Main.Created, len(res.Main.Changes))
	// Output:
	// main queue orders: created
	//   url: http://sqs.us-east-1.localhost:4566/000000000000/orders
	//   arn: arn:aws:sqs:us-east-1:000000000000:orders
	// dead-letter queue orders-dlq: created
	//   url: http://sqs.us-east-1.localhost:4566/000000000000/orders-dlq
	//   arn: arn:aws:sqs:us-east-1:000000000000:orders-dlq
	// false 0
}
