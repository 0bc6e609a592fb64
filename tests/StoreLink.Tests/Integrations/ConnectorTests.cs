using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>Connectors as an organization manages them: who may, what is checked, and that ids stay in their organization.</summary>
public sealed class ConnectorTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    /// <summary>The bag preset's states under an order system's own status values.</summary>
    public static readonly Dictionary<string, string> BagStatuses = new()
    {
        ["UNPAID"] = "unpaid", ["PAID"] = "paid", ["PICKING"] = "picking", ["SHIPPED"] = "shipped", ["SIGNED"] = "received",
        ["DONE"] = "completed", ["REFUNDING"] = "refunding", ["REFUNDED"] = "refunded",
    };

    [Theory, MemberData(nameof(Databases))]
    public async Task Connectors_are_managed_by_org_admins_and_keys_with_connectors_manage_and_stay_in_their_organization(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var bags = await StoreIdAsync(admin, "demo-bags");

        // Created without a template: the organization's default of the kind; the secret is shown here, never in the connector.
        var created = await admin.PostJsonAsync("/v1/connectors", new
        {
            key = "erp", name = "订单系统", base_url = "https://8.8.8.8/storelink", kind = "order", store_id = bags, status_map = BagStatuses,
            field_map = new { receiver_address = "address", tracking_no = "tracking_no" }, commands = true, profile_lookup = true,
        });
        Assert.Equal(201, created.Status);
        var secret = created.Str("secret");
        Assert.StartsWith("whsec_", secret);
        var connector = created.Json.GetProperty("connector");
        var id = connector.GetProperty("id").GetString()!;
        Assert.Equal($"/v1/connectors/{id}", created.Headers.Location!.ToString());
        Assert.Equal(("erp", "order", "webhook", bags, true, true, true), (connector.GetProperty("key").GetString(), connector.GetProperty("kind").GetString(),
            connector.GetProperty("mode").GetString(), connector.GetProperty("store_id").GetString(), connector.GetProperty("commands").GetBoolean(),
            connector.GetProperty("profile_lookup").GetBoolean(), connector.GetProperty("active").GetBoolean()));
        var templates = (await admin.GetJsonAsync("/v1/workflow-templates")).Json.EnumerateArray().ToList();
        var bagTemplate = templates.Single(t => t.GetProperty("kind").GetString() == "order").GetProperty("id").GetString();
        Assert.Equal(bagTemplate, connector.GetProperty("template_id").GetString());
        Assert.Equal("received", connector.GetProperty("status_map").GetProperty("SIGNED").GetString());
        Assert.Equal("https://8.8.8.8/storelink", connector.GetProperty("base_url").GetString());

        var shown = await admin.GetJsonAsync($"/v1/connectors/{id}");
        Assert.Equal(200, shown.Status);
        Assert.False(shown.Json.TryGetProperty("secret", out _));
        Assert.Equal(secret, (await admin.GetJsonAsync($"/v1/connectors/{id}/secret")).Str("secret"));
        var rotated = (await admin.PostJsonAsync($"/v1/connectors/{id}/secret/rotate")).Str("secret");
        Assert.NotEqual(secret, rotated);
        Assert.Equal(rotated, (await admin.GetJsonAsync($"/v1/connectors/{id}/secret")).Str("secret"));
        Assert.Single((await admin.GetJsonAsync("/v1/connectors")).Json.EnumerateArray());

        // PATCH takes any member; the whole result is checked again.
        var patched = await admin.PatchJsonAsync($"/v1/connectors/{id}", new { name = "ERP", mode = "polling", poll_interval_seconds = 30, active = false });
        Assert.Equal(200, patched.Status);
        Assert.Equal(("ERP", "polling", 30, false), (patched.Str("name"), patched.Str("mode"), patched.Json.GetProperty("poll_interval_seconds").GetInt32(),
            patched.Json.GetProperty("active").GetBoolean()));
        Assert.Equal("received", patched.Json.GetProperty("status_map").GetProperty("SIGNED").GetString()); // unchanged members stay
        await AssertInvalidAsync(admin.PatchJsonAsync($"/v1/connectors/{id}", new { poll_interval_seconds = 2 }), "poll_interval_seconds");
        await AssertInvalidAsync(admin.PatchJsonAsync($"/v1/connectors/{id}", new { key = "erp2" }), "key");
        await AssertInvalidAsync(admin.PatchJsonAsync($"/v1/connectors/{id}", new { status_map = new { SHIPPED = "on_the_way" } }), "status_map");
        // Another kind brings its default template, and the status map must fit it.
        await AssertInvalidAsync(admin.PatchJsonAsync($"/v1/connectors/{id}", new { kind = "ticket" }), "status_map");
        var ticket = await admin.PatchJsonAsync($"/v1/connectors/{id}", new { kind = "ticket", status_map = new { OPEN = "received", FIXED = "completed" } });
        Assert.Equal(200, ticket.Status);
        Assert.NotEqual(bagTemplate, ticket.Str("template_id"));
        Assert.Equal("webhook", (await admin.PatchJsonAsync($"/v1/connectors/{id}", new { mode = "webhook" })).Str("mode"));

        // Bad input is one clear 400 naming every field; a duplicate key is a conflict.
        var bad = await admin.PostJsonAsync("/v1/connectors", new
        {
            key = "ERP system", base_url = "ftp://erp.example.com/", kind = "invoice", mode = "push", status_map = new { },
        });
        Assert.Equal((400, "invalid_request"), (bad.Status, bad.Code));
        foreach (var field in new[] { "key", "name", "base_url", "kind", "mode", "status_map" })
            Assert.True(bad.Json.GetProperty("errors").TryGetProperty(field, out _), $"{field}: {bad.Body}");
        await AssertInvalidAsync(admin.PostJsonAsync("/v1/connectors", new
        {
            key = "care", name = "养护系统", base_url = "https://8.8.8.8/", template_id = bagTemplate, kind = "care_job", status_map = BagStatuses,
        }), "kind");
        Assert.Equal((400, "invalid_request"), await Result(admin.SendRawAsync(HttpMethod.Post, "/v1/connectors",
            """{"key":"x","name":"x","base_url":"https://8.8.8.8/","kind":"order","status_map":{"PAID":7}}""")));
        Assert.Equal((400, "invalid_request"), await Result(admin.SendRawAsync(HttpMethod.Post, "/v1/connectors", """{"key":"x","status_map":""")));
        var again = await admin.PostJsonAsync("/v1/connectors", new { key = "erp", name = "重复", base_url = "https://8.8.8.8/", kind = "order", status_map = BagStatuses });
        Assert.Equal((409, "conflict"), (again.Status, again.Code));

        // Another organization's admin finds nothing, whatever the call.
        var franchise = await WebhookTests.FranchiseAdminAsync(app);
        foreach (var path in new[] { $"/v1/connectors/{id}", $"/v1/connectors/{id}/secret", $"/v1/connectors/{id}/events", $"/v1/connectors/{id}/commands" })
            Assert.Equal((404, "not_found"), await Result(franchise.GetJsonAsync(path)));
        Assert.Equal((404, "not_found"), await Result(franchise.PostJsonAsync($"/v1/connectors/{id}/secret/rotate")));
        Assert.Equal((404, "not_found"), await Result(franchise.PatchJsonAsync($"/v1/connectors/{id}", new { active = true })));
        Assert.Equal((404, "not_found"), await Result(franchise.DeleteJsonAsync($"/v1/connectors/{id}")));
        Assert.Empty((await franchise.GetJsonAsync("/v1/connectors")).Json.EnumerateArray());
        // Nor may it point a connector at this organization's store or template.
        Assert.Equal((404, "not_found"), await Result(franchise.PostJsonAsync("/v1/connectors",
            new { key = "erp", name = "x", base_url = "https://8.8.8.8/", template_id = bagTemplate, status_map = BagStatuses })));

        // Staff who are not org admins and keys without connectors:manage, or scoped to a store, may not.
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.Equal((403, "forbidden"), await Result(manager.GetJsonAsync("/v1/connectors")));
        var plain = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "webhooks:manage" } })).Str("key"));
        Assert.Equal((403, "forbidden"), await Result(plain.GetJsonAsync($"/v1/connectors/{id}")));
        var scoped = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "y", store_id = bags, permissions = new[] { "connectors:manage" } })).Str("key"));
        Assert.Equal((403, "forbidden"), await Result(scoped.GetJsonAsync("/v1/connectors")));
        var key = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "z", permissions = new[] { "connectors:manage" } })).Str("key"));
        Assert.Single((await key.GetJsonAsync("/v1/connectors")).Json.EnumerateArray());
        Assert.Equal(200, (await key.PatchJsonAsync($"/v1/connectors/{id}", new { active = true })).Status);

        Assert.Equal(204, (await key.DeleteJsonAsync($"/v1/connectors/{id}")).Status);
        Assert.Equal((404, "not_found"), await Result(admin.GetJsonAsync($"/v1/connectors/{id}")));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_base_url_on_a_non_public_address_is_refused_unless_an_operator_allows_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        foreach (var url in new[] { "http://127.0.0.1:8080/erp/", "http://10.1.2.3/", "http://169.254.169.254/latest/", "http://[::1]/", "http://[64:ff9b::a9fe:a9fe]/" })
        {
            var refused = await admin.PostJsonAsync("/v1/connectors", new { key = "erp", name = "ERP", base_url = url, kind = "order", status_map = BagStatuses });
            Assert.True(refused.Status == 400 && refused.Code == "invalid_request", $"{url}: {refused}");
            Assert.Contains("non-public", refused.Json.GetProperty("errors").GetProperty("base_url")[0].GetString());
        }
        await AssertInvalidAsync(admin.PostJsonAsync("/v1/connectors",
            new { key = "erp", name = "ERP", base_url = "https://8.8.8.8/erp?token=1", kind = "order", status_map = BagStatuses }), "base_url");

        await using var allowing = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Webhooks:AllowedTargets:0"] = "127.0.0.0/8" });
        var allowed = await (await allowing.LoginAsync("admin@demo.local")).PostJsonAsync("/v1/connectors",
            new { key = "erp", name = "ERP", base_url = "http://127.0.0.1:8080/erp/", kind = "order", status_map = BagStatuses });
        Assert.Equal(201, allowed.Status);
    }

    internal static async Task<string> StoreIdAsync(HttpClient staff, string key) =>
        (await staff.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == key).GetProperty("id").GetString()!;

    private static async Task AssertInvalidAsync(Task<ApiResponse> call, string field)
    {
        var response = await call;
        Assert.True(response.Status == 400 && response.Code == "invalid_request", response.ToString());
        Assert.True(response.Json.GetProperty("errors").TryGetProperty(field, out _), $"{field}: {response.Body}");
    }

    internal static async Task<(int, string?)> Result(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
