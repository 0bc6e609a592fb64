using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Integrations;

namespace StoreLink.Tests.Fuzz;

/// <summary>
/// The REST corpus of the desk, store workflows and integrations: every write and every query-string read, each with a
/// valid request built from real ids of <see cref="Workplace"/> and sent by the caller that may make it.
/// </summary>
public sealed partial class FuzzTests
{
    /// <summary>
    /// What the desk, workflow and integration calls point at, made over the API as clients make them: queues, canned
    /// replies, a template copy, work items with a pending quote, appointments and their slots, a notification, a
    /// webhook and its delivery, connectors (one signs hooks, one is edited, one is deleted) and commands the store's
    /// system accepted for later.
    /// </summary>
    private sealed record Workplace(
        string Tech, string AgentBags, string TechShoes, string AgentShoes, string Customer, string VisitorCsat, string CustomerId, string VisitorAId,
        string ConversationBags, string ConversationCsat, string FranchiseCustomerId,
        string Queue, string QueueSpare, string CannedReply, string CannedSpare, string TemplateCopy, JsonObject TemplateDefinition, string TicketTemplate,
        string TicketA, string RequestA, string TicketB, string TicketC, string OrderA, string CareJob, string FranchiseItem, string HookOrder,
        IReadOnlyList<string> Commands, IReadOnlyList<string> Slots, string AppointmentA, string AppointmentB, string AppointmentC, JsonObject Schedule,
        string NotificationTemplate, string Notification, string Webhook, string WebhookSpare, string Delivery,
        string Erp, string ErpSecret, string Crm, string CrmSpare)
    {
        /// <summary>Ids an id-swapping mutation picks from. The hook's connector is not among them: a rotated secret would end the hook's run.</summary>
        public IReadOnlyList<string> Ids =>
        [
            CustomerId, VisitorAId, ConversationBags, ConversationCsat, FranchiseCustomerId, Queue, QueueSpare, CannedReply, CannedSpare, TemplateCopy,
            TicketTemplate, TicketA, RequestA, TicketB, TicketC, OrderA, CareJob, FranchiseItem, HookOrder, .. Commands, AppointmentA, AppointmentB,
            AppointmentC, Notification, Webhook, WebhookSpare, Delivery, Crm, CrmSpare, "ext:erp:SO-FZ-1", "wi_00000000000000000000000000",
            $"approve:{RequestA}", $"decline:{RequestA}", "change_address", "confirm_pickup",
        ];

        public static async Task<Workplace> PrepareAsync(StoreLinkApp app, World w, StoreSystem system, WebhookReceiver receiver)
        {
            var admin = app.WithToken(w.Tokens.Admin);
            var manager = app.WithToken(w.Tokens.Manager);
            var agent = app.WithToken(w.Tokens.Agent);
            var tech = await app.LoginAsync("tech.digital@demo.local");
            var agentBags = await app.LoginAsync("agent.bags@demo.local");
            var techShoes = await app.LoginAsync("tech.shoes@demo.local");
            var agentShoes = await app.LoginAsync("agent.shoes@demo.local");
            var franchise = app.WithToken(w.Tokens.Franchise);
            async Task<ApiResponse> Answer(Task<ApiResponse> call, int status)
            {
                var answer = await call;
                Assert.True(answer.Status == status, answer.ToString());
                return answer;
            }
            async Task<string> Id(Task<ApiResponse> call, int status = 201) => (await Answer(call, status)).Str("id");
            var visitorAId = (await w.VisitorA.GetJsonAsync("/v1/me")).Str("id");

            // Desk: a queue to edit and one to delete, canned replies, a resolved conversation for the rating.
            JsonObject Queue(string name) => new() { ["name"] = name, ["strategy"] = "least_busy", ["keywords"] = new JsonArray("屏幕", "电池"), ["position"] = 1 };
            var queue = await Id(manager.PostJsonAsync($"/v1/stores/{w.StoreDigital}/queues", Queue("手机")));
            var queueSpare = await Id(manager.PostJsonAsync($"/v1/stores/{w.StoreDigital}/queues", Queue("配件")));
            var canned = (await manager.GetJsonAsync($"/v1/stores/{w.StoreDigital}/canned-replies")).Json[0].GetProperty("id").GetString()!;
            var cannedSpare = await Id(manager.PostJsonAsync($"/v1/stores/{w.StoreDigital}/canned-replies", new { shortcut = "spare", title = "备用", body = "{customer.name}您好" }));
            var (visitorCsat, conversationCsat) = await MessagingTests.OpenAsync(app);
            await MessagingTests.SendAsync(visitorCsat, conversationCsat, "耳机没声音了");
            await MessagingTests.SendAsync(agent, conversationCsat, "您好，我来看看");
            Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{conversationCsat}/resolve")).Status);

            // Workflows: a copy of a preset to write versions of, tickets (one with a pending quote), an order, a care job.
            var templateCopy = await Id(admin.PostJsonAsync("/v1/workflow-templates", new { preset = "electronics_repair", name = "模糊售后", is_default = false }));
            var definition = JsonNode.Parse((await admin.GetJsonAsync($"/v1/workflow-templates/{templateCopy}")).Json.GetProperty("definition").GetRawText())!.AsObject();
            var ticketTemplate = (await admin.GetJsonAsync("/v1/workflow-templates")).Json.EnumerateArray()
                .First(t => t.GetProperty("kind").GetString() == "ticket" && t.GetProperty("is_default").GetBoolean()).GetProperty("id").GetString()!;
            Task<string> Ticket(string title) => Id(agent.PostJsonAsync("/v1/work-items",
                new { store_id = w.StoreDigital, customer_id = visitorAId, kind = "ticket", title, conversation_id = w.ConversationA }));
            var ticketA = await Ticket("iPhone 16 屏幕碎了");
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{ticketA}/transition", new { to = "inspecting" })).Status);
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{ticketA}/transition",
                new { to = "awaiting_approval", request = new { title = "更换原装屏幕", price = "899" } })).Status);
            var requestA = (await tech.GetJsonAsync($"/v1/work-items/{ticketA}")).Json.GetProperty("requests")[0].GetProperty("id").GetString()!;
            var ticketB = await Ticket("电池鼓包");
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{ticketB}/transition", new { to = "inspecting" })).Status);
            var ticketC = await Ticket("进水不开机");
            var orderA = await Id(agentBags.PostJsonAsync("/v1/work-items", new { store_id = w.StoreBags, customer_id = visitorAId, kind = "order", title = "托特包 ×20" }));
            var careJob = await Id(agentShoes.PostJsonAsync("/v1/work-items", new { store_id = w.StoreShoes, customer_id = visitorAId, kind = "care_job", title = "白色运动鞋深度清洁" }));
            // Ready for pickup, where the customer may ask for rework.
            foreach (var to in new[] { "deep_cleaning", "conditioning", "ready_for_pickup" })
                await Answer(techShoes.PostJsonAsync($"/v1/work-items/{careJob}/transition", new { to }), 200);
            var franchiseCustomer = (await franchise.GetJsonAsync("/v1/customers?q=F2001")).Json[0].GetProperty("id").GetString()!;
            var franchiseItem = await Id(franchise.PostJsonAsync("/v1/work-items", new { store_id = w.StoreFranchise, customer_id = franchiseCustomer, kind = "ticket", title = "华为 Mate 70 换电池" }));

            // Appointments: the shoe store's slots as its customers see them, three bookings (to move, to cancel, to close).
            var slots = (await w.VisitorA.GetJsonAsync("/v1/appointment-slots?store_key=demo-shoes&service=shoe_deep_clean")).Json.GetProperty("slots").EnumerateArray()
                .Where(s => s.GetProperty("remaining").GetInt32() > 0).Select(s => s.GetProperty("starts_at").GetString()!).Skip(2).ToList();
            Assert.True(slots.Count >= 12, $"{slots.Count} free slots");
            Task<string> Book(int slot) => Id(w.VisitorA.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = slots[slot] }));
            var (appointmentA, appointmentB, appointmentC) = (await Book(0), await Book(1), await Book(2));
            var schedule = JsonNode.Parse((await manager.GetJsonAsync($"/v1/stores/{w.StoreDigital}/appointment-schedule")).Json.GetProperty("definition").GetRawText())!.AsObject();

            // Notifications: a template and one scheduled notification.
            Assert.Equal(200, (await admin.PutJsonAsync("/v1/notification-templates/fz_pickup",
                new { name = "到店取件", text = new Dictionary<string, string> { ["zh-CN"] = "{customer.name}，您的订单 {order_no} 已到{store.name}。", ["en"] = "Order {order_no} is ready." } })).Status);
            Assert.Equal(200, (await admin.PutJsonAsync("/v1/notification-templates/fz_spare", new { name = "备用", text = new Dictionary<string, string> { ["zh-CN"] = "您好" } })).Status);
            var notification = await Id(admin.PostJsonAsync("/v1/notifications",
                new { store_id = w.StoreDigital, customer_id = w.CustomerId, template = "fz_pickup", variables = new { order_no = "SO-1" } }), 202);

            // Integrations: webhooks to a receiver on loopback, connectors to a store's system that accepts commands for later.
            var webhook = (await Answer(admin.PostJsonAsync("/v1/webhooks", new { url = receiver.Url.ToString(), events = new[] { "csat.given" }, description = "模糊" }), 201))
                .Json.GetProperty("subscription").GetProperty("id").GetString()!;
            var webhookSpare = (await Answer(admin.PostJsonAsync("/v1/webhooks", new { url = receiver.Url.ToString(), events = new[] { "csat.given" } }), 201))
                .Json.GetProperty("subscription").GetProperty("id").GetString()!;
            var delivery = (await Answer(admin.PostJsonAsync($"/v1/webhooks/{webhook}/ping"), 202)).Str("event_id");
            var (erp, erpSecret) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString(), commands = true });
            system.Secret = erpSecret;
            system.Clock = app.Clock.GetUtcNow;
            system.Commands = (_, _) => new SystemAnswer(202, new { status = "accepted" });
            var (crm, _) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString() }, key: "crm");
            var (crmSpare, _) = await Hooks.ConnectorAsync(admin, new { base_url = system.BaseUrl.ToString() }, key: "spare");
            // Orders of customer C1002 from the system, each with an address change the system accepted and will answer later.
            var (customer, conversationBags) = await WebhookTests.WorkflowsCustomerAsync(app, "C1002", "demo-bags");
            var commands = new List<string>();
            string? hookOrder = null;
            for (var n = 1; n <= 3; n++)
            {
                var created = await Hooks.SendAsync(app, erp, erpSecret, Hooks.Event($"fz-setup-{n}", "order.upserted", Hooks.Order($"SO-FZ-{n}", "PAID", customer: "C1002"), version: 1));
                Assert.True(created.Status == 200, created.ToString());
                hookOrder ??= created.Str("work_item_id");
                Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{created.Str("work_item_id")}/actions",
                    new { action = "change_address", address = $"上海市徐汇区漕溪北路 {n} 号" })).Status);
            }
            await system.WaitForAsync(s => s.CallsTo("commands").Count == 3);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (commands.Count < 3)
            {
                Assert.True(DateTime.UtcNow < deadline, "The commands were not accepted.");
                commands = [.. (await admin.GetJsonAsync($"/v1/connectors/{erp}/commands?status=accepted")).Json.EnumerateArray().Select(c => c.GetProperty("id").GetString()!)];
                await Task.Delay(50);
            }

            return new Workplace(StoreLinkApp.TokenOf(tech), StoreLinkApp.TokenOf(agentBags), StoreLinkApp.TokenOf(techShoes), StoreLinkApp.TokenOf(agentShoes),
                StoreLinkApp.TokenOf(customer), StoreLinkApp.TokenOf(visitorCsat), (await customer.GetJsonAsync("/v1/me")).Str("id"), visitorAId,
                conversationBags, conversationCsat, franchiseCustomer, queue, queueSpare, canned, cannedSpare, templateCopy, definition, ticketTemplate,
                ticketA, requestA, ticketB, ticketC, orderA, careJob, franchiseItem, hookOrder!, commands, slots, appointmentA, appointmentB, appointmentC, schedule,
                "fz_pickup", notification, webhook, webhookSpare, delivery, erp, erpSecret, crm, crmSpare);
        }
    }

    private static List<RestTemplate> WorkTemplates(World w, Workplace p, TimeProvider clock)
    {
        var t = w.Tokens;
        var (post, get, put, patch, delete) = (HttpMethod.Post, HttpMethod.Get, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete);
        JsonObject? None(int _) => null;
        string Slot(int i) => p.Slots[3 + i % (p.Slots.Count - 3)];
        // Forward moves from inspecting (where the ticket starts), never to an end: the ticket lives through the run. (A
        // 1-in-8 pick of the one state next from received, on a body that survives its mutations, was never accepted.)
        string[] ticketStates = ["awaiting_approval", "repairing", "ready_for_pickup", "shipped_back"];
        string[] orderStatuses = ["UNPAID", "PAID", "PICKING", "SHIPPED", "SIGNED", "DONE", "REFUNDING", "REFUNDED"];
        JsonObject Fields() => new() { ["phone"] = "13800000001", ["model"] = "iPhone 16 Pro", ["imei"] = "356938035643809" };
        return
        [
            // ---- the desk ----
            new("create queue", post, $"/v1/stores/{w.StoreDigital}/queues", t.Manager, i => new()
            {
                ["name"] = $"队列 {i % 9}", ["strategy"] = i % 2 == 0 ? "least_busy" : "round_robin", ["keywords"] = new JsonArray("屏幕", "碎屏"),
                ["is_default"] = false, ["position"] = i % 5, ["agent_ids"] = new JsonArray(w.AgentId),
            }, 2),
            new("update queue", patch, $"/v1/queues/{p.Queue}", t.Manager, i => new()
            {
                ["name"] = "手机", ["strategy"] = "round_robin", ["keywords"] = new JsonArray("屏幕", "电池", $"型号{i % 3}"), ["position"] = 1, ["agent_ids"] = new JsonArray(w.AgentId, w.ManagerId),
            }, 2),
            new("delete queue", delete, $"/v1/queues/{p.QueueSpare}", t.Manager, None, 1),
            new("list queues", get, $"/v1/stores/{w.StoreDigital}/queues", t.Agent, None, 1),
            new("public queues", get, "/v1/stores/by-key/demo-digital/queues", null, None, 1),
            new("capacity", put, $"/v1/staff/{w.AgentId}/capacity", t.Manager, i => new() { ["capacity"] = 3 + i % 5 }, 2),
            new("queue position", get, $"/v1/conversations/{w.ConversationA}/queue", t.VisitorA, None, 1),
            new("inbox", get, "/v1/desk/inbox", t.Agent, None, 3)
            {
                Query = [("store_id", w.StoreDigital), ("view", "mine"), ("queue_id", p.Queue), ("state", "active"), ("limit", "50")],
            },
            new("inbox (queue view)", get, "/v1/desk/inbox", t.Manager, None, 1)
            {
                Query = [("store_id", w.StoreDigital), ("view", "queue"), ("queue_id", p.Queue), ("state", "open")],
            },
            new("counts", get, "/v1/desk/counts", t.Agent, None, 1) { Query = [("store_id", w.StoreDigital)] },
            new("transfer to queue", post, $"/v1/desk/conversations/{w.ConversationA}/transfer", t.Manager, i => new() { ["queue_id"] = p.Queue, ["note"] = $"转给手机组 {i}" }, 2),
            // To the manager, who stays online through the run (the agent's presence is fuzzed).
            new("transfer to agent", post, $"/v1/desk/conversations/{w.ConversationA}/transfer", t.Manager, _ => new() { ["agent_id"] = w.ManagerId, ["note"] = "请跟进" }, 1),
            new("assign", post, $"/v1/desk/conversations/{w.ConversationA}/assign", t.Manager, i => new() { ["agent_id"] = i % 3 == 0 ? null : w.AgentId }, 2),
            new("pending", post, $"/v1/desk/conversations/{w.ConversationA}/pending", t.Agent, None, 1),
            new("labels", put, $"/v1/desk/conversations/{w.ConversationA}/labels", t.Agent, i => new() { ["labels"] = new JsonArray("售后", "屏幕", $"L{i % 4}") }, 2),
            new("watch", post, $"/v1/desk/conversations/{w.ConversationA}/watch", t.Manager, None, 1),
            new("unwatch", delete, $"/v1/desk/conversations/{w.ConversationA}/watch", t.Manager, None, 1),
            new("customer panel", get, $"/v1/desk/conversations/{w.ConversationA}/customer", t.Agent, None, 1),
            new("mentions", get, "/v1/desk/mentions", t.Agent, None, 1) { Query = [("limit", "20")] },
            new("resolve", post, $"/v1/conversations/{p.ConversationCsat}/resolve", t.Agent, None, 1),
            new("rate", post, $"/v1/conversations/{p.ConversationCsat}/csat", p.VisitorCsat, i => new() { ["rating"] = 1 + i % 5, ["comment"] = "很快，谢谢" }, 2),
            new("ratings", get, $"/v1/conversations/{p.ConversationCsat}/csat", t.Manager, None, 1),
            new("create canned reply", post, $"/v1/stores/{w.StoreDigital}/canned-replies", t.Manager, i => new()
            {
                ["shortcut"] = $"fz{i % 30}", ["title"] = "送修说明", ["body"] = "{customer.name}您好，我是{store.name}的{agent.name}。",
            }, 2),
            new("update canned reply", patch, $"/v1/canned-replies/{p.CannedReply}", t.Manager, i => new() { ["shortcut"] = "fzedit", ["title"] = "问候", ["body"] = $"{{customer.name}}您好 {i % 3}" }, 2),
            new("delete canned reply", delete, $"/v1/canned-replies/{p.CannedSpare}", t.Manager, None, 1),
            new("search canned replies", get, $"/v1/stores/{w.StoreDigital}/canned-replies", t.Agent, None, 1) { Query = [("q", "hi")] },
            new("fill canned replies", get, $"/v1/conversations/{w.ConversationA}/canned-replies", t.Agent, None, 1) { Query = [("q", "re")] },
            new("language", put, "/v1/me/language", t.VisitorA, i => new() { ["language"] = i % 2 == 0 ? "en" : "zh-CN" }, 2),

            // ---- workflows ----
            new("copy template", post, "/v1/workflow-templates", t.Admin, i => new() { ["preset"] = "shoe_care", ["name"] = $"养护 {i % 5}", ["is_default"] = false }, 1),
            new("template version", put, $"/v1/workflow-templates/{p.TemplateCopy}", t.Admin, _ => new() { ["definition"] = p.TemplateDefinition.DeepClone(), ["is_default"] = false }, 3),
            new("read template", get, $"/v1/workflow-templates/{p.TicketTemplate}", t.Agent, None, 1) { Query = [("version", "1")] },
            new("create work item", post, "/v1/work-items", t.Agent, i => new()
            {
                ["store_id"] = w.StoreDigital, ["customer_id"] = p.VisitorAId, ["kind"] = "ticket", ["title"] = $"屏幕碎了 #{i}", ["description"] = "摔了一下，屏幕碎了，触摸失灵",
                ["category"] = "screen", ["priority"] = "high", ["fields"] = Fields(), ["attachment_ids"] = new JsonArray(w.AttachmentAgent),
                ["conversation_id"] = w.ConversationA, ["transcript_from"] = 1, ["transcript_to"] = 2, ["team"] = "technician",
                ["due_at"] = clock.GetUtcNow().AddDays(2).ToString("O"),
            }, 4) { Idempotent = true },
            new("create work item (key)", post, "/v1/work-items", t.ApiKey, i => new()
            {
                ["store_id"] = w.StoreBags, ["customer_id"] = w.CustomerId, ["kind"] = "order", ["title"] = "托特包 ×20",
                ["fields"] = new JsonObject { ["address"] = "上海市黄浦区南京东路 1 号" }, ["external_ref"] = new JsonObject { ["system"] = "fz", ["id"] = $"SO-{i}" },
            }, 2) { Idempotent = true },
            new("report a repair", post, "/v1/work-items", t.VisitorA, i => new()
            {
                ["store_key"] = "demo-digital", ["kind"] = "ticket", ["description"] = $"手机进水了，开不了机 #{i}", ["fields"] = new JsonObject { ["phone"] = "13800000009" },
                ["attachment_ids"] = new JsonArray(w.AttachmentA), ["conversation_id"] = w.ConversationA,
            }, 2) { Idempotent = true },
            new("list work items", get, "/v1/work-items", t.Agent, None, 2)
            {
                Query = [("store_id", w.StoreDigital), ("state", "received"), ("category", "screen"), ("assignee_id", "me"), ("kind", "ticket"), ("customer_id", p.VisitorAId),
                    ("overdue", "true"), ("open", "true"), ("limit", "20")],
            },
            new("my work items", get, "/v1/work-items", t.VisitorA, None, 1) { Query = [("open", "false"), ("limit", "5")] },
            new("read work item", get, $"/v1/work-items/{p.TicketA}", t.VisitorA, None, 1),
            new("timeline", get, $"/v1/work-items/{p.TicketB}/timeline", p.Tech, None, 1),
            new("update work item", patch, $"/v1/work-items/{p.TicketB}", t.Agent, i => new()
            {
                ["title"] = $"电池鼓包 #{i % 4}", ["category"] = "battery", ["priority"] = "urgent", ["fields"] = new JsonObject { ["model"] = "iPhone 13", ["imei"] = null },
                ["assignee_id"] = w.AgentId, ["team"] = "agent", ["due_at"] = clock.GetUtcNow().AddDays(1).ToString("O"),
            }, 3) { Idempotent = true },
            new("unassign work item", patch, $"/v1/work-items/{p.TicketC}", t.Manager, _ => new() { ["unassign"] = true }, 1),
            new("transition", post, $"/v1/work-items/{p.TicketB}/transition", p.Tech, i => new() { ["to"] = ticketStates[i % ticketStates.Length], ["note"] = "检测完成" }, 4)
            {
                Idempotent = true,
            },
            new("transition with quote", post, $"/v1/work-items/{p.TicketC}/transition", p.Tech, i => new()
            {
                ["to"] = i % 2 == 0 ? "inspecting" : "awaiting_approval",
                ["request"] = new JsonObject { ["title"] = "更换电池", ["price"] = "299.00", ["currency"] = "CNY", ["attachment_ids"] = new JsonArray() },
            }, 2),
            new("transition by reference", post, "/v1/work-items/ext:erp:SO-FZ-2/transition", t.ApiKey, i => new() { ["to"] = i % 2 == 0 ? "picking" : "shipped" }, 2),
            new("patch by reference", patch, "/v1/work-items/ext:erp:SO-FZ-3", t.ApiKey, i => new() { ["fields"] = new JsonObject { ["tracking_no"] = $"SF{i}" } }, 1),
            new("read by reference", get, "/v1/work-items/ext:erp:SO-FZ-1", t.ApiKey, None, 1),
            new("request", post, $"/v1/work-items/{p.TicketA}/requests", p.Tech, i => new()
            {
                ["title"] = "追加贴膜", ["price"] = (30 + i % 7).ToString(System.Globalization.CultureInfo.InvariantCulture), ["currency"] = "CNY", ["attachment_ids"] = new JsonArray(),
            }, 2) { Idempotent = true },
            new("approve", post, $"/v1/work-items/{p.TicketA}/actions", t.VisitorA, i => new() { ["action"] = $"approve:{p.RequestA}", ["action_id"] = $"tap-{i % 3}" }, 2)
            {
                Idempotent = true,
            },
            new("change address", post, $"/v1/work-items/{p.OrderA}/actions", t.VisitorA, i => new()
            {
                ["action"] = "change_address", ["address"] = $"上海市徐汇区漕溪北路 {i % 50} 号", ["note"] = "工作日送达",
            }, 3) { Idempotent = true },
            new("change address (system's order)", post, $"/v1/work-items/{p.HookOrder}/actions", p.Customer, i => new()
            {
                ["action"] = "change_address", ["address"] = $"北京市朝阳区建国路 {i % 20} 号",
            }, 2),
            new("care action", post, $"/v1/work-items/{p.CareJob}/actions", t.VisitorA, i => new()
            {
                ["action"] = "rework", ["note"] = "鞋头还有污渍", ["attachment_ids"] = new JsonArray(w.AttachmentA), ["action_id"] = $"rw-{i % 4}",
            }, 1),
            new("follow", post, $"/v1/work-items/{p.TicketA}/follow", t.Agent, None, 1),
            new("unfollow", delete, $"/v1/work-items/{p.TicketA}/follow", t.Agent, None, 1),
            // The default template has one version (the fuzzed one is a copy): migrating to it is the move that can succeed.
            new("migrate", post, $"/v1/work-items/{p.TicketB}/migrate", t.Manager, _ => new() { ["version"] = 1 }, 2),
            new("work item draft", get, $"/v1/conversations/{w.ConversationA}/work-item-draft", t.Agent, None, 1) { Query = [("kind", "ticket")] },
            new("stock alert", post, $"/v1/stores/{w.StoreBags}/stock-alerts", t.ApiKey, i => new()
            {
                ["sku"] = $"BAG-{i % 10}", ["name"] = "托特包 米白", ["quantity"] = 3, ["threshold"] = 10, ["alert_id"] = $"fz-{i}",
            }, 2),
            new("schedule", put, $"/v1/stores/{w.StoreDigital}/appointment-schedule", t.Manager, _ => p.Schedule.DeepClone().AsObject(), 3),
            new("read schedule", get, $"/v1/stores/{w.StoreShoes}/appointment-schedule", t.Admin, None, 1),
            new("slots", get, "/v1/appointment-slots", t.VisitorA, None, 2)
            {
                Query = [("store_key", "demo-shoes"), ("service", "shoe_deep_clean"), ("from", DateOf(p.Slots[0])), ("to", DateOf(p.Slots[^1]))],
            },
            new("slots (staff)", get, "/v1/appointment-slots", p.TechShoes, None, 1) { Query = [("store_id", w.StoreShoes), ("service", "color_repair")] },
            new("book", post, "/v1/appointments", t.VisitorA, i => new()
            {
                ["store_key"] = "demo-shoes", ["service"] = i % 3 == 0 ? "color_repair" : "shoe_deep_clean", ["starts_at"] = Slot(i), ["note"] = "白色运动鞋",
                ["conversation_id"] = null, ["idempotency_key"] = $"fz-book-{i}",
            }, 3),
            new("book (staff)", post, "/v1/appointments", p.AgentShoes, i => new()
            {
                ["store_id"] = w.StoreShoes, ["customer_id"] = w.CustomerId, ["service"] = "color_repair", ["starts_at"] = Slot(i), ["technician_id"] = null,
                ["work_item_id"] = null, ["idempotency_key"] = $"fz-staff-{i}",
            }, 2),
            new("list appointments", get, "/v1/appointments", p.AgentShoes, None, 2)
            {
                Query = [("store_id", w.StoreShoes), ("from", p.Slots[0]), ("to", p.Slots[^1]), ("status", "booked"), ("customer_id", p.VisitorAId), ("technician_id", "me"), ("limit", "50")],
            },
            new("read appointment", get, $"/v1/appointments/{p.AppointmentA}", t.VisitorA, None, 1),
            new("appointment events", get, $"/v1/appointments/{p.AppointmentA}/events", p.AgentShoes, None, 1),
            new("move", post, $"/v1/appointments/{p.AppointmentA}/move", t.VisitorA, i => new() { ["starts_at"] = Slot(i), ["action_id"] = $"mv-{i}" }, 3),
            new("cancel", post, $"/v1/appointments/{p.AppointmentB}/cancel", t.VisitorA, i => new() { ["reason"] = "临时有事", ["action_id"] = $"cx-{i % 3}" }, 2),
            new("close appointment", post, $"/v1/appointments/{p.AppointmentC}/status", p.TechShoes, i => new() { ["status"] = i % 2 == 0 ? "completed" : "no_show" }, 1),

            // ---- notifications ----
            new("notification template", put, $"/v1/notification-templates/{p.NotificationTemplate}", t.Admin, i => new()
            {
                ["name"] = "到店取件", ["text"] = new JsonObject { ["zh-CN"] = "{customer.name}，您的订单 {order_no} 已到{store.name}，取件码 {code}。", ["en"] = "Order {order_no}: code {code}." },
                ["urgent"] = i % 2 == 0,
            }, 2),
            new("notification template (new)", put, "/v1/notification-templates/fz.{0}", t.ApiKey, _ => new() { ["name"] = "通知", ["text"] = new JsonObject { ["zh-CN"] = "您好" } }, 1),
            new("delete notification template", delete, "/v1/notification-templates/fz_spare", t.Admin, None, 1),
            new("notify", post, "/v1/notifications", t.ApiKey, i => new()
            {
                ["store_id"] = w.StoreDigital, ["customer_external_id"] = "C1001", ["template"] = p.NotificationTemplate,
                ["variables"] = new JsonObject { ["order_no"] = $"SO-{i}", ["code"] = 4821 }, ["urgent"] = i % 4 == 0,
            }, 3) { Idempotent = true },
            new("notify (manager)", post, "/v1/notifications", t.Manager, i => new()
            {
                ["store_id"] = w.StoreDigital, ["customer_id"] = p.VisitorAId, ["template"] = p.NotificationTemplate, ["variables"] = new JsonObject { ["order_no"] = "SO-1", ["code"] = "8" },
            }, 1),
            new("read notification", get, $"/v1/notifications/{p.Notification}", t.ApiKey, None, 1),

            // ---- integrations ----
            new("create webhook", post, "/v1/webhooks", t.Admin, i => new()
            {
                ["url"] = i % 3 == 0 ? "https://8.8.8.8/storelink" : $"http://127.0.0.1:9/hooks/{i}", ["events"] = new JsonArray("work_item.created", "csat.given"),
                ["description"] = "ERP", ["active"] = false,
            }, 2),
            new("update webhook", patch, $"/v1/webhooks/{p.Webhook}", t.ApiKey, i => new()
            {
                ["events"] = new JsonArray("csat.given"), ["description"] = $"模糊 {i % 5}", ["active"] = true,
            }, 2),
            new("delete webhook", delete, $"/v1/webhooks/{p.WebhookSpare}", t.Admin, None, 1),
            new("webhook secret", get, $"/v1/webhooks/{p.Webhook}/secret", t.Admin, None, 1),
            new("rotate webhook secret", post, $"/v1/webhooks/{p.Webhook}/secret/rotate", t.Admin, None, 1),
            new("ping", post, $"/v1/webhooks/{p.Webhook}/ping", t.ApiKey, None, 1),
            new("deliveries", get, $"/v1/webhooks/{p.Webhook}/deliveries", t.Admin, None, 2)
            {
                Query = [("status", "succeeded"), ("event_type", "webhook.ping"), ("limit", "10")],
            },
            new("delivery", get, $"/v1/webhooks/{p.Webhook}/deliveries/{p.Delivery}", t.Admin, None, 1),
            new("redeliver", post, $"/v1/webhooks/{p.Webhook}/deliveries/{p.Delivery}/redeliver", t.Admin, None, 1),
            new("create connector", post, "/v1/connectors", t.Admin, i => new()
            {
                ["key"] = $"fz{i}", ["name"] = "售后系统", ["base_url"] = "https://8.8.8.8/storelink/", ["kind"] = "ticket", ["store_id"] = w.StoreDigital,
                ["status_map"] = new JsonObject { ["NEW"] = "received", ["CHECK"] = "inspecting", ["DONE"] = "completed" },
                ["field_map"] = new JsonObject { ["imei"] = "imei" }, ["mode"] = "webhook", ["commands"] = false, ["profile_lookup"] = false, ["active"] = false,
            }, 2),
            new("update connector", patch, $"/v1/connectors/{p.Crm}", t.ApiKey, i => new()
            {
                ["name"] = $"客户系统 {i % 3}", ["status_map"] = new JsonObject { ["UNPAID"] = "unpaid", ["PAID"] = "paid" }, ["field_map"] = new JsonObject { ["addr"] = "address" },
                ["mode"] = "webhook", ["profile_lookup"] = true, ["active"] = true,
            }, 3),
            new("delete connector", delete, $"/v1/connectors/{p.CrmSpare}", t.Admin, None, 1),
            new("connector secret", get, $"/v1/connectors/{p.Crm}/secret", t.Admin, None, 1),
            new("rotate connector secret", post, $"/v1/connectors/{p.Crm}/secret/rotate", t.Admin, None, 1),
            new("inbound log", get, $"/v1/connectors/{p.Erp}/events", t.Admin, None, 2) { Query = [("status", "refused"), ("limit", "20")] },
            new("commands", get, $"/v1/connectors/{p.Erp}/commands", t.ApiKey, None, 1) { Query = [("status", "accepted"), ("limit", "20")] },
            new("command result", post, $"/v1/commands/{p.Commands[0]}/result", t.ApiKey, i => new()
            {
                ["status"] = "done", ["message"] = "地址已修改", ["result"] = new JsonObject { ["address_version"] = i % 3 },
            }, 2),
            new("command refused", post, $"/v1/commands/{p.Commands[1]}/result", t.Admin, _ => new() { ["status"] = "refused", ["message"] = "已发货，无法修改地址" }, 1),
            new("hook: order", post, $"/v1/hooks/{p.Erp}", null, i => HookEvent(i, "order.upserted", new JsonObject
            {
                ["external_id"] = $"SO-FZ-{1 + i % 6}", ["status"] = orderStatuses[i % orderStatuses.Length], ["title"] = "托特包 ×1", ["store_key"] = "demo-bags",
                ["customer"] = new JsonObject { ["external_id"] = "C1002", ["name"] = "陈女士", ["phone"] = "13800138000" },
                ["fields"] = new JsonObject { ["receiver_address"] = "上海市徐汇区漕溪北路 1 号", ["tracking_no"] = $"SF{i}", ["gift_wrap"] = true },
            }), 8) { Headers = (i, valid, sent, m) => HookHeaders(i, valid, sent, m, p.ErpSecret, clock) },
            new("hook: customer", post, $"/v1/hooks/{p.Erp}", null, i => HookEvent(i, "customer.upserted", new JsonObject
            {
                ["external_id"] = $"C-FZ-{i % 9}", ["name"] = "模糊顾客", ["phone"] = "13800000000", ["vip_level"] = 2, ["attributes"] = new JsonObject { ["language"] = "en" },
                ["purchases"] = new JsonArray(new JsonObject
                {
                    ["order_no"] = $"SO-{i}", ["item"] = "托特包", ["amount"] = "299.00", ["currency"] = "CNY", ["purchased_at"] = "2026-11-20T10:00:00Z",
                }),
            }), 3) { Headers = (i, valid, sent, m) => HookHeaders(i, valid, sent, m, p.ErpSecret, clock) },
            new("hook: stock", post, $"/v1/hooks/{p.Erp}", null, i => HookEvent(i, "stock.alerted", new JsonObject
            {
                ["sku"] = $"BAG-{i % 5}", ["name"] = "托特包 米白", ["quantity"] = 2, ["threshold"] = 10, ["store_key"] = "demo-bags",
            }), 2) { Headers = (i, valid, sent, m) => HookHeaders(i, valid, sent, m, p.ErpSecret, clock) },
        ];
    }

    private static string DateOf(string instant) => instant[..10];

    /// <summary>An event of the store's system; its id is also the request's <c>webhook-id</c>.</summary>
    private static JsonObject HookEvent(int i, string type, JsonObject data) => new()
    {
        ["id"] = $"fz-evt-{i}", ["type"] = type, ["version"] = 10 + i, ["occurred_at"] = "2026-11-25T08:30:00Z", ["data"] = data,
    };

    /// <summary>
    /// The hook's signature headers. Mostly signed as the store's system signs — over the bytes that are sent (so
    /// broken events reach the parser) or over the valid event (so a broken one fails its signature); now and then
    /// with broken headers themselves: none, a wrong secret, an old or a garbled time, another id, odd signature lists.
    /// </summary>
    private static IEnumerable<(string, string)> HookHeaders(int i, byte[]? valid, byte[]? sent, Mutator m, string secret, TimeProvider clock)
    {
        var id = $"fz-evt-{i}";
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        string Sign(string key, string webhookId, string ts, byte[]? body) =>
            "v1," + Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(key["whsec_".Length..]), (byte[])[.. Encoding.UTF8.GetBytes($"{webhookId}.{ts}."), .. body ?? []]));
        var roll = m.Random.NextDouble();
        if (roll < 0.5)
            return [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, id, timestamp, sent))];
        if (roll < 0.75)
            return [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, id, timestamp, valid))];
        var other = "whsec_" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("not the secret")));
        return m.Random.Next(12) switch
        {
            0 => [("webhook-id", id), ("webhook-timestamp", timestamp)],
            1 => [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(other, id, timestamp, sent))],
            2 => [("webhook-id", id), ("webhook-timestamp", (long.Parse(timestamp, System.Globalization.CultureInfo.InvariantCulture) - 600).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("webhook-signature", Sign(secret, id, (long.Parse(timestamp, System.Globalization.CultureInfo.InvariantCulture) - 600).ToString(System.Globalization.CultureInfo.InvariantCulture), sent))],
            3 => [("webhook-id", id), ("webhook-timestamp", m.Pick(["", "-1", "abc", "1e10", "99999999999999999999", " 1", "0x10"])), ("webhook-signature", Sign(secret, id, timestamp, sent))],
            4 => [("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, "", timestamp, sent))],
            5 => [("webhook-id", new string('i', 201)), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, new string('i', 201), timestamp, sent))],
            6 => [("webhook-id", "fz-setup-1"), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, "fz-setup-1", timestamp, sent))],
            7 => [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", "v1,AAAA " + Sign(secret, id, timestamp, sent) + " v2,x")],
            8 => [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", m.Pick(["v1,", "v1", ",", "v1,!!!", "v1," + new string('A', 5000), "   "]))],
            9 => [("webhook-id", id), ("webhook-id", "second"), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, id, timestamp, sent))],
            10 => [("webhook-id", "fz-evt-0"), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, "fz-evt-0", timestamp, sent))],
            _ => [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", Sign(secret, id, timestamp, sent).Replace("v1,", "v1, ", StringComparison.Ordinal))],
        };
    }

    private static readonly string[] IdempotencyKeys = ["", " ", new string('k', 255), new string('k', 256), "fz-key", "a\tb", "\"quoted\"", "key with spaces", "%00"];
}
