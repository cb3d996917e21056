//! Method confusion, over raw sockets, against the example bundle: a request is evaluated
//! as the method on its request line and no other. Anything that asks a later hop to treat
//! it as another method (override headers in any spelling, a `_method` parameter in the
//! query or in a form body) is refused; HEAD, OPTIONS, unknown and lower-case methods match
//! only routes declared for exactly that method. Nothing refused reaches the upstream.

mod support;
use support::wire::{assert_all, req, run_cases, Case};
use support::*;

const ACTOR: &str = "x-actor: agent-7";

fn line(method: &str, target: &str) -> String {
    format!("{method} {target} HTTP/1.1")
}

fn cases() -> Vec<Case> {
    let tenant = "/db/v1/tenants/t-1";
    let mut cases = vec![
        Case::allowed(
            "plain GET",
            req(&line("GET", tenant), &[ACTOR], ""),
            "GET",
            tenant,
        )
        .read("x-actor", "agent-7"),
        Case::allowed(
            "a query key that only contains 'method'",
            req(
                &line("GET", "/db/v1/tenants/t-1?method=DELETE&x_method=1"),
                &[],
                "",
            ),
            "GET",
            "/db/v1/tenants/t-1?method=DELETE&x_method=1",
        ),
        // Methods match only their own routes.
        Case::refused(
            "HEAD on a GET route",
            req(&line("HEAD", tenant), &[], ""),
            403,
        ),
        Case::refused(
            "OPTIONS on a guarded route",
            req(&line("OPTIONS", tenant), &[], ""),
            403,
        ),
        Case::refused("lower-case get", req(&line("get", tenant), &[], ""), 403),
        Case::refused(
            "lower-case delete",
            req(&line("delete", tenant), &[], ""),
            403,
        ),
        Case::refused(
            "mixed-case Delete",
            req(&line("Delete", tenant), &[], ""),
            403,
        ),
        Case::refused("unknown method", req(&line("PURGE", tenant), &[], ""), 403),
        Case::refused("extension method", req(&line("FOO", tenant), &[], ""), 403),
        Case::refused("TRACE", req(&line("TRACE", tenant), &[], ""), 403),
        Case::refused(
            "POST on a DELETE route",
            req(&line("POST", tenant), &[], ""),
            403,
        ),
        Case::refused("PATCH", req(&line("PATCH", tenant), &[], "{}"), 403),
        Case::refused(
            "DELETE defers",
            req(&line("DELETE", tenant), &[ACTOR], ""),
            409,
        ),
        Case::refused(
            "method with a NUL",
            req(&line("GE\0T", tenant), &[], ""),
            400,
        ),
        Case::refused(
            "method with a space",
            req("GET  /db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
    ];
    // Override headers, every spelling, on the allowed GET and on a POST: refused, whatever
    // method they name.
    for header in [
        "X-HTTP-Method-Override: DELETE",
        "x-http-method-override: delete",
        "X-HTTP-Method: DELETE",
        "X-Method-Override: DELETE",
        "X_HTTP_Method_Override: DELETE",
        "x_http_method: DELETE",
        "X_Method_Override: DELETE",
        "X-HTTP-Method-Override: GET",
        "X-HTTP-Method-Override:",
    ] {
        for method in ["GET", "POST"] {
            cases.push(Case::refused(
                format!("{method} + {header}"),
                req(&line(method, tenant), &[header], ""),
                400,
            ));
        }
    }
    // `_method` in the query, as the frameworks that honour it would read it.
    for query in [
        "_method=DELETE",
        "_METHOD=delete",
        "%5Fmethod=DELETE",
        "%5f%6D%65%74%68%6f%64=DELETE",
        "x=1&_method=DELETE",
        "x=1;_method=DELETE",
        "_method",
        "_method[]=DELETE",
        "_method[0]=DELETE",
        ".method=DELETE",
        "+_method=DELETE",
        "%20_method=DELETE",
        "_method%00=DELETE",
        "%5Fmethod%5B%5D=DELETE",
    ] {
        let target = format!("{tenant}?{query}");
        cases.push(Case::refused(
            format!("GET ?{query}"),
            req(&line("GET", &target), &[], ""),
            400,
        ));
    }
    cases
}

#[tokio::test]
async fn the_method_evaluated_is_the_method_forwarded() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    assert_all(run_cases(&gate, &up, &cases()).await);
}

/// `_method` in a form body is how Rails, Laravel and Symfony override a POST; toolgate
/// refuses it on a route that does not read the body as much as on one that does.
#[tokio::test]
async fn a_form_body_cannot_override_the_method() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let env = "x-environment: staging";
    let form = "Content-Type: application/x-www-form-urlencoded";
    let multipart = "Content-Type: multipart/form-data; boundary=XyZ";
    let part = |name: &str| {
        format!("--XyZ\r\nContent-Disposition: form-data; name={name}\r\n\r\nDELETE\r\n--XyZ--\r\n")
    };
    let cases = vec![
        Case::allowed(
            "a form without _method streams through",
            req("PUT /files/a HTTP/1.1", &[env, form], "a=1&b=2"),
            "PUT",
            "/files/a",
        )
        .body("a=1&b=2")
        .read("x-environment", "staging"),
        Case::refused(
            "form body _method",
            req("PUT /files/a HTTP/1.1", &[env, form], "a=1&_method=DELETE"),
            400,
        ),
        Case::refused(
            "form body _method, charset",
            req(
                "PUT /files/a HTTP/1.1",
                &[
                    env,
                    "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8",
                ],
                "_METHOD=DELETE",
            ),
            400,
        ),
        Case::refused(
            "form body %5Fmethod",
            req("PUT /files/a HTTP/1.1", &[env, form], "%5Fmethod=DELETE"),
            400,
        ),
        Case::refused(
            "multipart _method, quoted",
            req(
                "PUT /files/a HTTP/1.1",
                &[env, multipart],
                &part("\"_method\""),
            ),
            400,
        ),
        Case::refused(
            "multipart _method, bare",
            req("PUT /files/a HTTP/1.1", &[env, multipart], &part("_method")),
            400,
        ),
        Case::refused(
            "form _method on a route that reads the body",
            req("POST /orders HTTP/1.1", &[env, form], "_method=DELETE"),
            400,
        ),
        // PHP and Rack end the media type at `,` or a blank, and disagree on a repeated one.
        Case::refused(
            "form _method behind a comma-listed type",
            req(
                "PUT /files/a HTTP/1.1",
                &[
                    env,
                    "Content-Type: application/x-www-form-urlencoded,x+json",
                ],
                "_method=DELETE",
            ),
            400,
        ),
        Case::refused(
            "form _method behind a blank-separated type",
            req(
                "PUT /files/a HTTP/1.1",
                &[env, "Content-Type: application/x-www-form-urlencoded x"],
                "_method=DELETE",
            ),
            400,
        ),
        Case::refused(
            "a repeated Content-Type with a body",
            req(
                "PUT /files/a HTTP/1.1",
                &[env, "Content-Type: text/plain", form],
                "_method=DELETE",
            ),
            400,
        ),
    ];
    assert_all(run_cases(&gate, &up, &cases).await);
}
