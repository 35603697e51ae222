//! `dsr client create|list|rotate|revoke`: the API clients of `dsr-server`, in the same
//! store. Parsing and output only; the decisions are `dsr_ops::clients`.

use crate::out::{self, json, outln, row, table};
use crate::{Ctx, StoreArgs};
use dsr_ops::clients::{self as clients, ClientInfo, ClientKind, Scope};
use std::process::ExitCode;

/// The API clients of the HTTP server (OAuth 2.0 clients and static API tokens).
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    cmd: ClientCmd,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ClientCmd {
    /// Create a client of the tenant; its secret is shown once.
    Create {
        /// A unique, descriptive name: the service it is for (e.g. crm-sync).
        name: String,
        /// `oauth` (client credentials, short-lived tokens) or `token` (a static API
        /// token for one service).
        #[arg(long, default_value = "oauth", value_parser = ["oauth", "token"])]
        kind: String,
        /// Scopes, separated by commas or spaces (least privilege): subjects:read,
        /// subjects:write, requests:read, requests:write, requests:decide,
        /// compliance:check, audit:read.
        #[arg(long, required = true)]
        scopes: String,
    },
    /// List the tenant's clients (never their secrets).
    List,
    /// Give a client a new secret (the old one stops working at once).
    Rotate {
        /// Client id or name.
        client: String,
    },
    /// Revoke a client for good.
    Revoke {
        /// Client id or name.
        client: String,
    },
}

fn day(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

fn issued(i: &clients::Issued, as_json: bool, verb: &str) -> anyhow::Result<()> {
    if as_json {
        return json(i);
    }
    outln!(
        "{verb} client {} ({}, {}) of tenant {}",
        i.client.name,
        i.client.id,
        i.client.kind,
        i.client.tenant
    );
    outln!("scopes: {}", i.client.scopes.join(" "));
    if i.client.kind == "token" {
        outln!(
            "API token (shown once; send it as Authorization: Bearer …):\n{}",
            i.secret
        );
    } else {
        outln!(
            "client id: {}\nclient secret (shown once): {}",
            i.client.id,
            i.secret
        );
        outln!(
            "get a token: POST /oauth/token with grant_type=client_credentials, client_id and client_secret"
        );
    }
    Ok(())
}

/// Runs `dsr client …`.
pub fn run(ctx: &Ctx, a: ClientArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_on(ctx, a))
}

/// Clients live in the database the server uses: a SQLite file or PostgreSQL.
async fn run_on(ctx: &Ctx, a: ClientArgs) -> anyhow::Result<ExitCode> {
    let (db, tenant) = match ctx.postgres(&a.store)? {
        Some((url, tenant)) => (dsr_ops::Database::Postgres(url), tenant),
        None => {
            let loc = ctx.location(&a.store)?;
            (dsr_ops::Database::Sqlite(loc.db), loc.tenant)
        }
    };
    let store = dsr_ops::open_server_store(&db, 1).await?;
    let store = store.as_ref();
    match a.cmd {
        ClientCmd::Create { name, kind, scopes } => {
            let kind = if kind == "token" {
                ClientKind::Token
            } else {
                ClientKind::OAuth
            };
            let scopes = Scope::parse_list(&scopes)?;
            let i = clients::create(store, &tenant, &name, kind, &scopes).await?;
            issued(&i, a.json, "created")?;
        }
        ClientCmd::Rotate { client } => {
            let i = clients::rotate(store, &tenant, &client).await?;
            issued(&i, a.json, "rotated")?;
        }
        ClientCmd::Revoke { client } => {
            let c = clients::revoke(store, &tenant, &client).await?;
            if a.json {
                json(&c)?;
            } else {
                outln!(
                    "revoked client {} ({}) of tenant {}",
                    c.name,
                    c.id,
                    c.tenant
                );
            }
        }
        ClientCmd::List => {
            dsr_ops::require_tenant_in(store, &db, &tenant).await?;
            let list: Vec<ClientInfo> = store
                .clients(Some(&tenant))
                .await?
                .iter()
                .map(ClientInfo::from)
                .collect();
            if a.json {
                json(&list)?;
            } else {
                let mut t = table(
                    &[
                        "name",
                        "id",
                        "kind",
                        "scopes",
                        "created",
                        "last used",
                        "state",
                    ],
                    false,
                );
                out::keep_whole(&mut t, &[1]);
                for c in &list {
                    let state = match (c.revoked_at, c.rotated_at) {
                        (Some(r), _) => format!("revoked {}", day(Some(r))),
                        (None, Some(r)) => format!("rotated {}", day(Some(r))),
                        (None, None) => "live".to_owned(),
                    };
                    row(
                        &mut t,
                        vec![
                            c.name.clone(),
                            c.id.clone(),
                            c.kind.clone(),
                            c.scopes.join(" "),
                            day(c.created_at),
                            day(c.last_used_at),
                            state,
                        ],
                        false,
                    );
                }
                outln!("{t}");
                outln!("{} client{}", list.len(), out::plural(list.len() as u64));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
