using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Data;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Http;

/// <summary>Bad input gets a 4xx problem document with a stable code — never a 500, never a stack trace.</summary>
public sealed class ErrorTests
{
    [Fact]
    public async Task Malformed_json_wrong_types_and_missing_fields_are_invalid_request()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var client = app.Anonymous();
        foreach (var body in new[] { "{", "not json", "[]", "{\"login\":5,\"password\":\"x\"}", "{\"login\":\"a\",\"password\":[1]}", "null", "\"text\"", "{\"login\":\"a\",\"password\":{}}" })
        {
            var response = await client.SendRawAsync(HttpMethod.Post, "/v1/auth/login", body);
            Assert.True(response.Status == 400 && response.Code == "invalid_request", $"{body}: {response}");
            Assert.Equal("application/problem+json", response.ContentType);
            Assert.DoesNotContain("   at ", response.Body);
        }
        var missing = await client.SendRawAsync(HttpMethod.Post, "/v1/auth/login", "{\"unknown_member\":1}");
        Assert.Equal(400, missing.Status);
        Assert.True(missing.Json.GetProperty("errors").TryGetProperty("login", out _));
        Assert.True(missing.Json.GetProperty("errors").TryGetProperty("password", out _));
        var empty = await client.SendRawAsync(HttpMethod.Post, "/v1/auth/login", "");
        Assert.Equal((400, "invalid_request"), (empty.Status, empty.Code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task Wrong_content_type_unknown_routes_and_methods_have_codes()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var client = app.Anonymous();
        var text = await client.SendRawAsync(HttpMethod.Post, "/v1/auth/login", "login=a", "text/plain");
        Assert.Equal("invalid_request", text.Code);
        Assert.Equal(415, text.Status);

        var route = await client.GetJsonAsync("/v1/no-such-thing");
        Assert.Equal((404, "not_found"), (route.Status, route.Code));
        var method = await client.SendRawAsync(HttpMethod.Put, "/v1/auth/login", "{}");
        Assert.Equal((405, "invalid_request"), (method.Status, method.Code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task A_json_charset_that_is_unknown_is_refused_and_a_quoted_one_is_read()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var client = app.Anonymous();
        async Task<ApiResponse> Login(string contentType)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/auth/login")
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes("{\"login\":\"admin@demo.local\",\"password\":\"demo1234\"}")),
            };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            return await client.SendJsonAsync(request);
        }
        foreach (var unknown in new[] { "application/json; charset=bogus", "application/json; charset=\"\"", "application/problem+json; charset=x-nothing" })
        {
            var refused = await Login(unknown);
            Assert.True(refused is { Status: 415, Code: "invalid_request", ContentType: "application/problem+json" }, $"{unknown}: {refused}");
        }
        // Quotes around a parameter value are valid HTTP: charset="utf-8" is charset=utf-8.
        Assert.Equal(200, (await Login("application/json; charset=\"utf-8\"")).Status);
        Assert.Equal(200, (await Login("application/json; charset=UTF-8")).Status);
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task A_string_that_is_not_unicode_text_is_invalid_request()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var customer = await app.VisitorAsync("demo-digital");
        var id = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
        var admin = await app.LoginAsync("admin@demo.local");
        // A lone surrogate is valid JSON text but no Unicode text; message bodies and attributes are kept as JSON.
        foreach (var (client, path, body) in new[]
        {
            (customer, $"/v1/conversations/{id}/messages", "{\"client_msg_id\":\"a\",\"kind\":\"text\",\"body\":{\"text\":\"\\ud800\"}}"),
            (customer, $"/v1/conversations/{id}/messages", "{\"client_msg_id\":\"b\",\"kind\":\"image\",\"body\":{\"attachment_id\":\"a\\udc00b\"}}"),
            (customer, $"/v1/conversations/{id}/messages", "{\"client_msg_id\":\"c\",\"kind\":\"text\",\"body\":{\"text\":\"ok\",\"\\udfff\":1}}"),
            (admin, "/v1/customers", "{\"external_id\":\"X1\",\"attributes\":{\"note\":\"\\ud83d\"}}"),
            (admin, "/v1/customers", "{\"external_id\":\"\\ud83d\"}"),
        })
        {
            var response = await client.SendRawAsync(HttpMethod.Post, path, body);
            Assert.True(response is { Status: 400, Code: "invalid_request" }, $"{body}: {response}");
        }
        Assert.Empty((await customer.GetJsonAsync($"/v1/conversations/{id}/messages")).Json.EnumerateArray());
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task An_oversized_body_is_too_large()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var huge = "{\"login\":\"" + new string('a', 2 * 1024 * 1024) + "\",\"password\":\"x\"}";
        var response = await app.Anonymous().SendRawAsync(HttpMethod.Post, "/v1/auth/login", huge);
        Assert.Equal((413, "too_large"), (response.Status, response.Code));
        var longField = await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = new string('a', 5000), password = "x" });
        Assert.Equal((400, "invalid_request"), (longField.Status, longField.Code));
        Assert.Empty(app.Log.Errors);
    }

    [Fact]
    public async Task Health_readiness_and_the_openapi_document_answer()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var client = app.Anonymous();
        Assert.Equal("ok", (await client.GetJsonAsync("/healthz")).Str("status"));
        Assert.Equal("ready", (await client.GetJsonAsync("/readyz")).Str("status"));
        var openapi = await client.GetJsonAsync("/openapi/v1.json");
        Assert.Equal(200, openapi.Status);
        var paths = openapi.Json.GetProperty("paths");
        foreach (var path in new[] { "/v1/auth/login", "/v1/auth/visitor", "/v1/auth/customer", "/v1/me", "/v1/stores/{id}", "/v1/api-clients" })
            Assert.True(paths.TryGetProperty(path, out _), path);
        Assert.Contains("access_token", openapi.Body);
    }

    [Fact]
    public async Task Readiness_and_requests_report_an_unreachable_database_as_unavailable()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Postgres);
        var client = app.Anonymous();
        Assert.Equal("ready", (await client.GetJsonAsync("/readyz")).Str("status"));

        // The database goes away under the running server: no new connections, the open ones cut.
        var name = app.Database.PostgresDatabase!;
        await TestDatabases.AdminExecuteAsync($"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false");
        await TestDatabases.AdminExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
        Npgsql.NpgsqlConnection.ClearAllPools();

        Assert.Equal(200, (await client.GetJsonAsync("/healthz")).Status);
        var ready = await client.GetJsonAsync("/readyz");
        Assert.Equal((503, "unavailable"), (ready.Status, ready.Code));
        var login = await client.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "demo1234" });
        Assert.Equal((503, "unavailable"), (login.Status, login.Code));

        await TestDatabases.AdminExecuteAsync($"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true");
        Assert.Equal("ready", (await client.GetJsonAsync("/readyz")).Str("status"));
        Assert.Equal(200, (await client.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "demo1234" })).Status);
    }

    public static TheoryData<string> Databases => TestDatabases.Both;

    [Fact]
    public async Task A_refusal_is_worded_in_the_callers_language_the_console_cookie_first_then_accept_language()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var admin = await app.LoginAsync("admin@demo.local");
        async Task<string?> TitleAsync(string? acceptLanguage, string? cookie)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/stores")
            {
                Content = new StringContent("{\"store_key\":\"demo-digital\",\"name\":\"again\"}", Encoding.UTF8, "application/json"),
            };
            if (acceptLanguage is not null)
                request.Headers.TryAddWithoutValidation("Accept-Language", acceptLanguage);
            if (cookie is not null)
                request.Headers.Add("Cookie", $"storelink_lang={cookie}");
            var answer = await admin.SendJsonAsync(request);
            Assert.Equal((409, "conflict"), (answer.Status, answer.Code));
            return answer.Json.GetProperty("title").GetString();
        }

        Assert.Equal("门店标识「demo-digital」已被占用。", await TitleAsync(null, null));
        Assert.Equal("The store key 'demo-digital' is taken.", await TitleAsync("en-GB,en;q=0.9", null));
        Assert.Equal("门店标识「demo-digital」已被占用。", await TitleAsync("fr-FR, en;q=0.5, zh-CN;q=0.8", null));
        Assert.Equal("The store key 'demo-digital' is taken.", await TitleAsync("zh-CN", "en"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Json_the_server_cannot_read_from_its_own_data_is_an_internal_error_logged_not_the_callers_fault(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var visitor = await app.VisitorAsync("demo-digital");
        var id = (await visitor.GetJsonAsync("/v1/me")).Str("id");
        Assert.Equal(200, (await agent.GetJsonAsync($"/v1/customers/{id}")).Status);

        // A stored row broken behind the server's back (a bad manual edit, an old bug): the request itself is fine.
        await app.Services.GetRequiredService<Db>().ExecuteAsync("UPDATE customers SET attributes = '{\"language\":' WHERE id = @id", new { id });
        var broken = await agent.GetJsonAsync($"/v1/customers/{id}");
        Assert.Equal((500, "internal"), (broken.Status, broken.Code));
        Assert.DoesNotContain("   at ", broken.Body);
        Assert.DoesNotContain("JSON", broken.Body);
        Assert.Contains(app.Log.Errors, e => e.Contains("JsonException", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_serialization_failure_that_outlasts_the_retries_is_unavailable_and_says_the_database_is_busy()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Postgres);
        var customer = await app.VisitorAsync("demo-digital");
        Assert.Equal(200, (await customer.PutJsonAsync("/v1/me/language", new { language = "en" })).Status);
        // Every change of a customer now fails as a lost race between concurrent transactions does, however often tried.
        var db = app.Services.GetRequiredService<Db>();
        await db.ExecuteAsync("""
            CREATE FUNCTION always_conflicts() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'could not serialize access due to concurrent update' USING ERRCODE = '40001'; END $$
            """);
        await db.ExecuteAsync("CREATE TRIGGER customers_conflict BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION always_conflicts()");

        var busy = await customer.PutJsonAsync("/v1/me/language", new { language = "zh-CN" });
        Assert.Equal((503, "unavailable"), (busy.Status, busy.Code));
        Assert.Equal("The database is busy with conflicting changes; try again shortly.", busy.Json.GetProperty("title").GetString());
        Assert.NotNull(busy.Headers.RetryAfter);
        Assert.Empty(app.Log.Errors);
    }
}
