using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

public sealed class AuthTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Every_demo_login_signs_in_and_me_tells_who_and_where(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        foreach (var (login, role, store) in DemoSeed.Logins)
        {
            var response = await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login, password = "demo1234" });
            Assert.Equal(200, response.Status);
            Assert.StartsWith("sla_", response.Str("access_token"));
            Assert.True(DateTimeOffset.Parse(response.Str("expires_at")) > TestClock.Now.AddHours(1));
            var user = response.Json.GetProperty("user");
            Assert.Equal("staff", user.GetProperty("kind").GetString());
            var roles = user.GetProperty("roles").EnumerateArray().ToList();
            Assert.Equal(role, Assert.Single(roles).GetProperty("role").GetString());
            Assert.Equal(store is null, !roles[0].TryGetProperty("store_id", out _));

            var me = await app.WithToken(response.Str("access_token")).GetJsonAsync("/v1/me");
            Assert.Equal(200, me.Status);
            Assert.Equal(user.GetProperty("id").GetString(), me.Str("id"));
            Assert.Equal(user.GetProperty("org_id").GetString(), me.Str("org_id"));
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Wrong_password_and_unknown_login_get_the_same_401(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var wrong = await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "nope-nope" });
        var unknown = await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "nobody@demo.local", password = "demo1234" });
        Assert.Equal((401, "unauthorized"), (wrong.Status, wrong.Code));
        Assert.Equal((401, "unauthorized"), (unknown.Status, unknown.Code));
        Assert.Equal(wrong.Str("title"), unknown.Str("title"));
        Assert.Equal("application/problem+json", wrong.ContentType);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Login_is_case_insensitive_on_the_login(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var response = await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = " Agent.Digital@DEMO.local ", password = "demo1234" });
        Assert.Equal(200, response.Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Failed_logins_lock_the_account_then_the_address_and_the_window_ends(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?>
        {
            ["Auth:MaxFailuresPerAccount"] = "3", ["Auth:MaxFailuresPerAddress"] = "5", ["Auth:LoginWindow"] = "00:10:00",
        });
        var client = app.Anonymous();
        for (var i = 0; i < 3; i++)
            Assert.Equal(401, (await client.PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "wrong-pass" })).Status);

        // The right password no longer helps for this account, but another account still signs in.
        var locked = await client.PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "demo1234" });
        Assert.Equal((429, "rate_limited"), (locked.Status, locked.Code));
        Assert.InRange(int.Parse(locked.Headers.GetValues("Retry-After").Single()), 1, 600);
        Assert.Equal(200, (await client.PostJsonAsync("/v1/auth/login", new { login = "agent.bags@demo.local", password = "demo1234" })).Status);

        // Two more failures on other accounts reach the per-address limit: now everyone from here waits.
        for (var i = 0; i < 2; i++)
            Assert.Equal(401, (await client.PostJsonAsync("/v1/auth/login", new { login = $"ghost{i}@demo.local", password = "wrong-pass" })).Status);
        var address = await client.PostJsonAsync("/v1/auth/login", new { login = "agent.shoes@demo.local", password = "demo1234" });
        Assert.Equal((429, "rate_limited"), (address.Status, address.Code));

        app.Clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(200, (await client.PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "demo1234" })).Status);
    }

    [Fact]
    public async Task Sign_in_calls_are_rate_limited_per_address()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Auth:RequestsPerMinutePerAddress"] = "4" });
        var client = app.Anonymous();
        for (var i = 0; i < 4; i++)
            Assert.Equal(200, (await client.PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" })).Status);
        var refused = await client.PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" });
        Assert.Equal((429, "rate_limited"), (refused.Status, refused.Code));
        Assert.True(refused.Headers.Contains("Retry-After"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Logout_revokes_the_token_at_once_and_only_that_token(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var first = await app.LoginAsync("agent.digital@demo.local");
        var second = await app.LoginAsync("agent.digital@demo.local");
        Assert.Equal(204, (await first.PostJsonAsync("/v1/auth/logout")).Status);

        var after = await first.GetJsonAsync("/v1/me");
        Assert.Equal((401, "unauthorized"), (after.Status, after.Code));
        Assert.Equal(401, (await first.PostJsonAsync("/v1/auth/logout")).Status);
        Assert.Equal(200, (await second.GetJsonAsync("/v1/me")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Access_tokens_expire(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var staff = await app.LoginAsync("agent.digital@demo.local");
        var visitor = await app.VisitorAsync("demo-digital");
        app.Clock.Advance(TimeSpan.FromHours(13));
        Assert.Equal(401, (await staff.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(200, (await visitor.GetJsonAsync("/v1/me")).Status);
        app.Clock.Advance(TimeSpan.FromDays(30));
        Assert.Equal(401, (await visitor.GetJsonAsync("/v1/me")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Missing_malformed_and_unknown_credentials_are_401_problems(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var none = await app.Anonymous().GetJsonAsync("/v1/me");
        Assert.Equal((401, "unauthorized"), (none.Status, none.Code));
        Assert.Contains("Bearer", none.Headers.WwwAuthenticate.ToString());

        foreach (var header in new[] { "Bearer sla_forged-token-that-does-not-exist", "Basic YWRtaW46ZGVtbzEyMzQ=", "Bearer ", "Bearer slk_" + new string('x', 300) })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/v1/me");
            request.Headers.TryAddWithoutValidation("Authorization", header);
            var response = await app.Anonymous().SendJsonAsync(request);
            Assert.Equal((401, "unauthorized"), (response.Status, response.Code));
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_visitor_is_a_new_customer_of_the_store_each_time(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var a = await app.Anonymous().PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" });
        var b = await app.Anonymous().PostJsonAsync("/v1/auth/visitor", new { store_key = "demo-digital" });
        Assert.Equal(200, a.Status);
        var user = a.Json.GetProperty("user");
        Assert.Equal("customer", user.GetProperty("kind").GetString());
        Assert.False(user.TryGetProperty("roles", out _));
        Assert.NotEqual(user.GetProperty("id").GetString(), b.Json.GetProperty("user").GetProperty("id").GetString());

        var unknown = await app.Anonymous().PostJsonAsync("/v1/auth/visitor", new { store_key = "no-such-store" });
        Assert.Equal((404, "not_found"), (unknown.Status, unknown.Code));
        var missing = await app.Anonymous().PostJsonAsync("/v1/auth/visitor", new { });
        Assert.Equal((404, "not_found"), (missing.Status, missing.Code));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_store_signed_identity_maps_to_the_same_customer_every_time(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var token = Jwt.Sign(new { sub = "C1001", name = "新名字", vip = 3, exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.RetailIdentitySecret);
        var first = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-digital", identity_token = token });
        Assert.Equal(200, first.Status);
        var user = first.Json.GetProperty("user");
        Assert.Equal("customer", user.GetProperty("kind").GetString());
        Assert.Equal("新名字", user.GetProperty("name").GetString());

        // The same sub from another store of the same organization is the same customer (the demo customer C1001).
        var again = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new
        {
            store_key = "demo-bags", identity_token = Jwt.Sign(new { sub = "C1001", exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.RetailIdentitySecret),
        });
        Assert.Equal(user.GetProperty("id").GetString(), again.Json.GetProperty("user").GetProperty("id").GetString());
        Assert.Equal("新名字", again.Json.GetProperty("user").GetProperty("name").GetString());

        var profile = await app.WithToken(again.Str("access_token")).GetJsonAsync($"/v1/customers/{user.GetProperty("id").GetString()}");
        Assert.Equal(200, profile.Status);
        Assert.Equal("C1001", profile.Str("external_id"));
        Assert.Equal(3, profile.Json.GetProperty("vip_level").GetInt32());
        Assert.Equal("13800000001", profile.Str("phone"));

        // A new sub is a new customer.
        var other = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new
        {
            store_key = "demo-digital", identity_token = Jwt.Sign(new { sub = "C9999", exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.RetailIdentitySecret),
        });
        Assert.NotEqual(user.GetProperty("id").GetString(), other.Json.GetProperty("user").GetProperty("id").GetString());
    }

    public static TheoryData<string, string> BadIdentityTokens()
    {
        var exp = Jwt.In(TimeSpan.FromMinutes(5));
        var secret = DemoSeed.RetailIdentitySecret;
        var data = new TheoryData<string, string>();
        foreach (var db in new[] { TestDatabases.Sqlite, TestDatabases.Postgres })
        {
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp = Jwt.In(TimeSpan.FromMinutes(-5)) }, secret)); // expired
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp }, "another-secret-that-is-long-enough-to-sign")); // forged
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp }, DemoSeed.FranchiseIdentitySecret)); // another organization's secret
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp }, secret, alg: "none"));
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp }, secret, alg: "HS512"));
            data.Add(db, Jwt.Sign(new { sub = "C1001" }, secret)); // no exp
            data.Add(db, Jwt.Sign(new { exp }, secret)); // no sub
            data.Add(db, Jwt.Sign(new { sub = "C1001", exp, nbf = Jwt.In(TimeSpan.FromHours(1)) }, secret)); // not yet valid
            data.Add(db, "not.a.jwt");
        }
        return data;
    }

    [Theory, MemberData(nameof(BadIdentityTokens))]
    public async Task Expired_forged_unsigned_and_malformed_identity_tokens_are_refused(string db, string token)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var response = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-digital", identity_token = token });
        Assert.Equal((401, "unauthorized"), (response.Status, response.Code));
    }

    [Fact]
    public async Task An_identity_token_is_checked_against_the_organization_of_the_store()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var franchise = Jwt.Sign(new { sub = "F2001", exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.FranchiseIdentitySecret);
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-franchise", identity_token = franchise })).Status);
        Assert.Equal(401, (await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-digital", identity_token = franchise })).Status);
        var missing = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-digital" });
        Assert.Equal((400, "invalid_request"), (missing.Status, missing.Code));
        Assert.True(missing.Json.GetProperty("errors").TryGetProperty("identity_token", out _));
    }
}
