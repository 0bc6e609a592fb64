using System.Text.Json;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Integrations;

namespace StoreLink.Tests.Accounts;

/// <summary>The security log: <c>GET /v1/audit-events</c>.</summary>
public sealed class AuditTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private const string Agent = "AuditTests/1.0";

    private static HttpClient Tagged(HttpClient client)
    {
        client.DefaultRequestHeaders.UserAgent.ParseAdd(Agent);
        return client;
    }

    private static async Task<List<JsonElement>> EventsAsync(HttpClient admin, string query = "limit=200")
    {
        var response = await admin.GetJsonAsync("/v1/audit-events?" + query);
        Assert.Equal(200, response.Status);
        return response.Json.EnumerateArray().ToList();
    }

    private static string? Get(JsonElement e, string name) => e.TryGetProperty(name, out var value) ? value.GetString() : null;

    [Theory, MemberData(nameof(Databases))]
    public async Task Security_events_are_logged_with_actor_and_address_for_the_organization_only(string db)
    {
        // On a real socket, so that every request has a client address.
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var anonymous = Tagged(app.Anonymous());
        Assert.Equal(401, (await anonymous.PostJsonAsync("/v1/auth/login", new { login = "agent.digital@demo.local", password = "wrong-pass" })).Status);
        for (var i = 0; i < 5; i++)
            await anonymous.PostJsonAsync("/v1/auth/login", new { login = "agent.shoes@demo.local", password = "wrong-pass" });
        var signedIn = await anonymous.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "demo1234" });
        var admin = Tagged(app.WithToken(signedIn.Str("access_token")));
        var adminId = (await admin.GetJsonAsync("/v1/me")).Str("id");
        var digital = await ConnectorTests.StoreIdAsync(admin, "demo-digital");

        var staff = await admin.PostJsonAsync("/v1/staff", new { login = "audit.new@demo.local", name = "新同事", password = "first-pass-1", roles = new[] { new { store_id = digital, role = "agent" } } });
        var staffId = staff.Str("id");
        await admin.PutJsonAsync($"/v1/staff/{staffId}/roles", new { roles = new[] { new { store_id = digital, role = "manager" } } });
        await admin.PatchJsonAsync($"/v1/staff/{staffId}", new { disabled = true });
        await admin.PatchJsonAsync($"/v1/staff/{staffId}", new { disabled = false });
        var password = (await admin.PostJsonAsync($"/v1/staff/{staffId}/password-reset", new { })).Str("password");
        var colleague = Tagged(await app.LoginAsync("audit.new@demo.local", password));
        Assert.Equal(200, (await colleague.PatchJsonAsync($"/v1/staff/{staffId}", new { password = "second-pass-2", current_password = password })).Status);

        var key = await admin.PostJsonAsync("/v1/api-clients", new { name = "ERP", permissions = new[] { "customers:read" } });
        var keyId = key.Json.GetProperty("api_client").GetProperty("id").GetString()!;
        await admin.DeleteJsonAsync($"/v1/api-clients/{keyId}");
        await admin.PostJsonAsync("/v1/organization/identity-secret/rotate");

        var webhook = (await admin.PostJsonAsync("/v1/webhooks", new { url = "https://8.8.8.8/hook", active = false })).Json.GetProperty("subscription").GetProperty("id").GetString()!;
        await admin.PatchJsonAsync($"/v1/webhooks/{webhook}", new { description = "ERP" });
        await admin.PostJsonAsync($"/v1/webhooks/{webhook}/secret/rotate");
        await admin.DeleteJsonAsync($"/v1/webhooks/{webhook}");
        var connector = (await admin.PostJsonAsync("/v1/connectors", new { key = "erp", name = "ERP", base_url = "https://8.8.8.8/", kind = "order", status_map = ConnectorTests.BagStatuses }))
            .Json.GetProperty("connector").GetProperty("id").GetString()!;
        await admin.PatchJsonAsync($"/v1/connectors/{connector}", new { name = "ERP 2" });
        await admin.PostJsonAsync($"/v1/connectors/{connector}/secret/rotate");
        await admin.DeleteJsonAsync($"/v1/connectors/{connector}");

        var events = await EventsAsync(admin);
        var staffIds = (await admin.GetJsonAsync("/v1/staff")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("login").GetString()!, s => s.GetProperty("id").GetString()!);
        void Logged(string action, string? actorId, string? targetType, string targetId)
        {
            var e = events.FirstOrDefault(e => Get(e, "action") == action && Get(e, "target_id") == targetId);
            Assert.True(e.ValueKind == JsonValueKind.Object, $"{action} on {targetId} is not in the log");
            Assert.Equal((actorId, targetType), (Get(e, "actor_id"), Get(e, "target_type")));
            Assert.False(string.IsNullOrEmpty(Get(e, "address")), $"{action} has no address");
            Assert.Equal(Agent, Get(e, "user_agent"));
        }
        Logged("auth.login_failed", null, "staff", staffIds["agent.digital@demo.local"]);
        Logged("auth.locked_out", null, "staff", staffIds["agent.shoes@demo.local"]);
        Logged("auth.login", adminId, "staff", adminId);
        Logged("staff.created", adminId, "staff", staffId);
        Logged("staff.roles_changed", adminId, "staff", staffId);
        Logged("staff.disabled", adminId, "staff", staffId);
        Logged("staff.enabled", adminId, "staff", staffId);
        Logged("staff.password_reset", adminId, "staff", staffId);
        Logged("staff.password_changed", staffId, "staff", staffId);
        Logged("api_client.created", adminId, "api_client", keyId);
        Logged("api_client.revoked", adminId, "api_client", keyId);
        Logged("organization.identity_secret_rotated", adminId, "organization", (await admin.GetJsonAsync("/v1/me")).Str("org_id"));
        foreach (var action in new[] { "created", "updated", "secret_rotated", "deleted" })
        {
            Logged("webhook." + action, adminId, "webhook", webhook);
            Logged("connector." + action, adminId, "connector", connector);
        }
        var failed = events.First(e => Get(e, "action") == "auth.login_failed" && Get(e, "target_id") == staffIds["agent.digital@demo.local"]);
        Assert.Equal("anonymous", Get(failed, "actor_kind"));
        Assert.Equal("agent.digital@demo.local", failed.GetProperty("details").GetProperty("login").GetString());
        Assert.Equal(5, events.Count(e => Get(e, "action") == "auth.login_failed" && Get(e, "target_id") == staffIds["agent.shoes@demo.local"]));
        Assert.Equal(["staff.password_changed", "staff.password_reset", "staff.enabled", "staff.disabled", "staff.roles_changed", "staff.created"],
            (await EventsAsync(admin, $"target_type=staff&target_id={staffId}")).Select(e => Get(e, "action")).Where(a => a!.StartsWith("staff.")));
        Assert.All(await EventsAsync(admin, "action=connector.updated"), e => Assert.Equal("connector.updated", Get(e, "action")));
        Assert.All(await EventsAsync(admin, $"actor_id={staffId}"), e => Assert.Equal(staffId, Get(e, "actor_id")));

        // Only the organization's admins read it, and only their organization's.
        var franchiseAdmin = await WebhookTests.FranchiseAdminAsync(app);
        Assert.DoesNotContain(await EventsAsync(franchiseAdmin), e => events.Any(mine => Get(mine, "id") == Get(e, "id")));
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var refused = await agent.GetJsonAsync("/v1/audit-events");
        Assert.Equal((403, "forbidden"), (refused.Status, refused.Code));
        var apiKey = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "k", permissions = new[] { "webhooks:manage" } })).Str("key"));
        Assert.Equal(403, (await apiKey.GetJsonAsync("/v1/audit-events")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task The_log_pages_newest_first_and_filters_by_time(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        for (var i = 0; i < 7; i++)
        {
            await admin.PostJsonAsync("/v1/organization/identity-secret/rotate");
            app.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        var all = await EventsAsync(admin);
        Assert.Equal(8, all.Count); // the sign-in and seven rotations
        var times = all.Select(e => DateTimeOffset.Parse(Get(e, "created_at")!)).ToList();
        Assert.Equal(times.OrderByDescending(t => t), times);

        var paged = new List<string>();
        string? before = null;
        while (true)
        {
            var page = await EventsAsync(admin, "limit=3" + (before is null ? "" : $"&before={before}"));
            Assert.InRange(page.Count, 0, 3);
            if (page.Count == 0)
                break;
            paged.AddRange(page.Select(e => Get(e, "id")!));
            before = paged[^1];
        }
        Assert.Equal(all.Select(e => Get(e, "id")), paged);

        var since = Uri.EscapeDataString(times[4].ToString("O"));
        var until = Uri.EscapeDataString(times[1].ToString("O"));
        Assert.Equal(all.Skip(2).Take(3).Select(e => Get(e, "id")), (await EventsAsync(admin, $"since={since}&until={until}")).Select(e => Get(e, "id")));
        Assert.Equal(400, (await admin.GetJsonAsync("/v1/audit-events?since=yesterday")).Status);
    }
}
