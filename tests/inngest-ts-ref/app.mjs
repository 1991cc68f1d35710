// Reference app on the official Inngest TypeScript SDK (inngest@4.24.0).
//
// It exists so that our Rust SDK can be compared, on the wire, with the SDK
// Inngest itself ships: `crates/inngest-testkit` drives this app and a Rust app
// that mirrors it with the same executor and compares their wire shapes.
// Every function below is described in README.md; keep the two in sync, since
// the Rust mirror is written from the README.
//
// Environment:
//   PORT             port to listen on, 0 = any free port (default 3939)
//   INNGEST_DEV      "1" for dev mode, "0" for cloud mode (signatures checked)
//   INNGEST_BASE_URL origin of the (fake) Inngest API and Event API
//   INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY  cloud mode credentials
//
// Once listening it prints one line `autofix-ref listening on <serve url>` on
// stdout, which is what the test harness waits for.

import http from "node:http";
import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";

const SERVE_PATH = "/api/inngest";

const inngest = new Inngest({
  id: "autofix-ref",
  // The executor under test speaks the classic call protocol; checkpointing
  // would make the SDK report steps out of band instead of in 206 answers.
  checkpointing: false,
});

// --- the chain: monitor -> pull context -> generate fix ---------------------

const monitorProjectHealth = inngest.createFunction(
  {
    id: "monitor-project-health",
    name: "Monitor project health",
    triggers: [
      { cron: "*/10 * * * *" },
      { event: "autofix/project.health.check.requested" },
    ],
  },
  async ({ event, step }) => {
    const project = await step.run("load-project", () => ({
      projectId: event.data?.projectId ?? "proj-42",
      services: ["api", "worker"],
    }));

    const [ci, errors, deps] = await Promise.all([
      step.run("check-ci-status", () => ({
        pipeline: "main",
        state: "failing",
        failedJobs: 1,
      })),
      step.run("check-error-rate", () => ({
        service: "api",
        errorsPerMin: 12.5,
      })),
      step.run("check-dependencies", () => ({ outdated: 3, vulnerable: 1 })),
    ]);

    const summary = await step.run("summarize-health", () => ({
      projectId: project.projectId,
      unhealthy: true,
      signals: { ci, errors, deps },
    }));

    await step.sendEvent("request-service-context", {
      name: "autofix/service.context.requested",
      data: {
        projectId: project.projectId,
        services: project.services,
        reason: "unhealthy",
      },
    });

    return { projectId: summary.projectId, unhealthy: summary.unhealthy };
  },
);

const pullServiceContext = inngest.createFunction(
  {
    id: "pull-service-context",
    name: "Pull service context",
    triggers: [{ event: "autofix/service.context.requested" }],
  },
  async ({ event, step }) => {
    const services = await Promise.all(
      event.data.services.map((service) =>
        step.run("fetch-service", () => ({
          service,
          recentDeploys: 2,
          logLines: 40,
        })),
      ),
    );

    const [repo, logs] = await Promise.all([
      step.run("fetch-repo-metadata", () => ({
        repo: "acme/app",
        defaultBranch: "main",
      })),
      step.run("fetch-recent-logs", () => ({
        lines: ["TypeError: x is undefined"],
        count: 1,
      })),
    ]);

    const context = await step.run("assemble-context", () => ({
      projectId: event.data.projectId,
      services,
      repo,
      topError: logs.lines[0],
    }));

    await step.sendEvent("request-fix", {
      name: "autofix/fix.requested",
      data: {
        projectId: context.projectId,
        repo: context.repo.repo,
        topError: context.topError,
      },
    });

    return { services: services.length, repo: repo.repo };
  },
);

const generateFix = inngest.createFunction(
  {
    id: "generate-fix",
    name: "Generate fix",
    retries: 2,
    triggers: [{ event: "autofix/fix.requested" }],
  },
  async ({ event, step, attempt }) => {
    const patch = await step.run("draft-patch", () => {
      if (attempt === 0) {
        throw new Error(
          "model temporarily unavailable (simulated first-attempt failure)",
        );
      }
      return { file: "src/app.ts", diff: "- x.y\n+ x?.y", attempt };
    });

    const validation = await step.run("validate-patch", () => ({
      ok: true,
      checks: ["lint", "unit"],
    }));

    return {
      projectId: event.data.projectId,
      patch,
      validation,
      status: "fix-ready",
    };
  },
);

// --- single-feature scenarios ------------------------------------------------

const fanOut = inngest.createFunction(
  {
    id: "fan-out",
    name: "Fan out",
    triggers: [{ event: "autofix/ref.fan-out.requested" }],
  },
  async ({ step }) => {
    const [first, second, index] = await Promise.all([
      step.run("fetch-shard", () => ({ shard: 0, rows: 10 })),
      step.run("fetch-shard", () => ({ shard: 1, rows: 20 })),
      step.run("build-index", () => ({ keys: 2 })),
    ]);
    return { rows: first.rows + second.rows, keys: index.keys };
  },
);

const rejectInput = inngest.createFunction(
  {
    id: "reject-input",
    name: "Reject input",
    triggers: [{ event: "autofix/ref.reject.requested" }],
  },
  async ({ step }) => {
    await step.run("validate-input", () => {
      throw new NonRetriableError("input rejected: projectId is required");
    });
    return { unreachable: true };
  },
);

const exhaustRetries = inngest.createFunction(
  {
    id: "exhaust-retries",
    name: "Exhaust retries",
    retries: 1,
    triggers: [{ event: "autofix/ref.exhaust.requested" }],
  },
  async ({ step }) => {
    await step.run("always-fails", () => {
      throw new Error("upstream down (simulated permanent failure)");
    });
    return { unreachable: true };
  },
);

const napAndWait = inngest.createFunction(
  {
    id: "nap-and-wait",
    name: "Nap and wait",
    triggers: [{ event: "autofix/ref.approval.requested" }],
  },
  async ({ event, step }) => {
    await step.sleep("nap", "2h");
    const approval = await step.waitForEvent("wait-approval", {
      event: "autofix/ref.approved",
      timeout: "1h",
      if: "async.data.ticket == event.data.ticket",
    });
    return await step.run("record-decision", () => ({
      ticket: event.data.ticket,
      approved: approval !== null,
      approver: approval?.data?.approver ?? null,
    }));
  },
);

const invokeChild = inngest.createFunction(
  {
    id: "invoke-child",
    name: "Invoke child",
    triggers: [{ event: "autofix/ref.child.requested" }],
  },
  async ({ event, step }) => {
    return await step.run("double", () => ({ doubled: event.data.n * 2 }));
  },
);

const invokeParent = inngest.createFunction(
  {
    id: "invoke-parent",
    name: "Invoke parent",
    triggers: [{ event: "autofix/ref.invoke.requested" }],
  },
  async ({ event, step }) => {
    const child = await step.invoke("call-child", {
      function: invokeChild,
      data: { n: event.data.n },
      timeout: "1h",
    });
    return { child };
  },
);

const handler = serve({
  client: inngest,
  functions: [
    monitorProjectHealth,
    pullServiceContext,
    generateFix,
    fanOut,
    rejectInput,
    exhaustRetries,
    napAndWait,
    invokeChild,
    invokeParent,
  ],
});

const server = http.createServer((req, res) => {
  const path = (req.url ?? "").split("?")[0];
  if (path === SERVE_PATH) {
    return handler(req, res);
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: "not found" }));
});

const port = Number.parseInt(process.env.PORT ?? "3939", 10);
server.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address();
  console.log(`autofix-ref listening on http://127.0.0.1:${bound}${SERVE_PATH}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
