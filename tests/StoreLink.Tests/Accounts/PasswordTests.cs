using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

/// <summary>A token alone cannot take an account over: a new password needs the current one; admins reset, audited.</summary>
public sealed class PasswordTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Changing_ones_own_password_needs_the_current_one(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var elsewhere = await app.LoginAsync("agent.digital@demo.local");
        var id = (await agent.GetJsonAsync("/v1/me")).Str("id");

        var missing = await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1" });
        Assert.Equal((400, "invalid_request"), (missing.Status, missing.Code));
        Assert.True(missing.Json.GetProperty("errors").TryGetProperty("current_password", out _));
        var wrong = await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1", current_password = "not-my-password" });
        Assert.Equal((403, "forbidden"), (wrong.Status, wrong.Code));
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "demo1234" })).Status);

        var changed = await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1", current_password = "demo1234" });
        Assert.Equal(200, changed.Status);
        Assert.Equal(200, (await agent.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(401, (await elsewhere.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "new-password-1" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Guessing_the_current_password_counts_as_failed_sign_ins(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Auth:MaxFailuresPerAccount"] = "3" });
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var id = (await agent.GetJsonAsync("/v1/me")).Str("id");
        for (var i = 0; i < 3; i++)
            Assert.Equal(403, (await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1", current_password = $"guess-{i}" })).Status);
        var refused = await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1", current_password = "demo1234" });
        Assert.Equal((429, "rate_limited"), (refused.Status, refused.Code));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_admin_resets_another_accounts_password_and_every_session_of_it_ends(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");
        var adminId = (await admin.GetJsonAsync("/v1/me")).Str("id");
        await using var socket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));

        // Not by PATCH any more, not by a manager, and not one's own.
        var patched = await admin.PatchJsonAsync($"/v1/staff/{agentId}", new { password = "taken-over-1" });
        Assert.Equal((403, "forbidden"), (patched.Status, patched.Code));
        Assert.Equal(403, (await manager.PostJsonAsync($"/v1/staff/{agentId}/password-reset", new { })).Status);
        Assert.Equal(403, (await admin.PostJsonAsync($"/v1/staff/{adminId}/password-reset", new { })).Status);
        Assert.Equal(400, (await admin.PostJsonAsync($"/v1/staff/{agentId}/password-reset", new { password = "short" })).Status);

        var reset = await admin.PostJsonAsync($"/v1/staff/{agentId}/password-reset", new { });
        Assert.Equal(200, reset.Status);
        var password = reset.Str("password");
        Assert.True(password.Length >= 8);
        Assert.Equal(4001, (await socket.ClosedAsync()).Code);
        Assert.Equal(401, (await agent.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(401, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "demo1234" })).Status);
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password })).Status);

        var chosen = await admin.PostJsonAsync($"/v1/staff/{agentId}/password-reset", new { password = "chosen-by-admin" });
        Assert.Equal("chosen-by-admin", chosen.Str("password"));
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "chosen-by-admin" })).Status);
    }
}
