using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Workflows;

/// <summary>Changes to one work item at the same moment each keep what the other changed.</summary>
public sealed class WorkItemConcurrentChangesTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_address_change_is_not_undone_by_staff_editing_the_order_at_the_same_time(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var store = (await agent.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-bags").GetProperty("id").GetString();
        for (var round = 0; round < 3; round++)
        {
            var customer = await app.VisitorAsync("demo-bags");
            var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
            var order = await agent.PostJsonAsync("/v1/work-items", new
            {
                store_id = store, kind = "order", customer_id = customerId, title = "旅行箱 × 3", fields = new { address = "上海市黄浦区南京东路 1 号", phone = "13800000009" },
            });
            var id = order.Str("id");
            var priorities = new[] { "low", "normal", "high", "urgent" };
            var edits = Enumerable.Range(0, 8).Select(i => i % 2 == 0
                ? agent.PatchJsonAsync($"/v1/work-items/{id}", new { priority = priorities[i % 4] })
                : agent.PatchJsonAsync($"/v1/work-items/{id}", new { fields = new Dictionary<string, object> { [$"note{i}"] = "加急" } })).ToList();
            var change = customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "change_address", address = $"北京市朝阳区建国路 {round} 号" });
            var answers = await Task.WhenAll([.. edits, change]);
            Assert.All(answers, a => Assert.Equal(200, a.Status));

            var fields = (await agent.GetJsonAsync($"/v1/work-items/{id}")).Json.GetProperty("fields");
            Assert.Equal($"北京市朝阳区建国路 {round} 号", fields.GetProperty("address").GetString());
            Assert.Equal("13800000009", fields.GetProperty("phone").GetString());
            foreach (var i in new[] { 1, 3, 5, 7 })
                Assert.Equal("加急", fields.GetProperty($"note{i}").GetString());
        }
    }
}
