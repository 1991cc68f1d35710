//! A two-step function served with axum.
//!
//! ```text
//! INNGEST_DEV=1 cargo run -p inngest --example two_step
//! npx inngest-cli@latest dev -u http://localhost:3000/api/inngest
//! ```
//! Then send `{"name":"demo/order.placed","data":{"order_id":"o-1","amount_cents":1250}}`
//! from the Dev Server UI. Cloud mode needs `INNGEST_SIGNING_KEY` (and `INNGEST_EVENT_KEY`).

use inngest::{Client, Config, Ctx, Error, Trigger, function, serve};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct OrderPlaced {
    order_id: String,
    amount_cents: u64,
}

#[derive(Serialize, Deserialize)]
struct Invoice {
    number: String,
    total: String,
}

fn order_function() -> inngest::ServableFunction {
    function("process-order", "Process order")
        .trigger(Trigger::event("demo/order.placed"))
        .retries(3)
        .handler(|ctx: Ctx<OrderPlaced>| async move {
            let order = ctx.event.data;
            // Each step runs once per run; replays get the memoized output back.
            let invoice: Invoice = ctx
                .step
                .run("create-invoice", || async {
                    Ok::<_, Error>(Invoice {
                        number: format!("INV-{}", order.order_id),
                        total: format!(
                            "{}.{:02}",
                            order.amount_cents / 100,
                            order.amount_cents % 100
                        ),
                    })
                })
                .await?;
            let receipt: String = ctx
                .step
                .run("email-receipt", || async {
                    Ok::<_, Error>(format!("sent {} ({})", invoice.number, invoice.total))
                })
                .await?;
            Ok(serde_json::json!({ "invoice": invoice.number, "receipt": receipt }))
        })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("info,inngest=debug")
        .init();
    let config = Config::from_env("two-step-demo")?;
    let client = Client::new(config, reqwest::Client::new());
    let app = axum::Router::new().merge(serve(client, vec![order_function()]));
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    tracing::info!(
        "serving Inngest functions on http://{}/api/inngest",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
