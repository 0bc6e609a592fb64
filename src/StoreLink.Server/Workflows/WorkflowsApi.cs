using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

public static class WorkflowsApi
{
    public static void MapWorkflows(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().WithTags("Workflows");

        api.MapGet("/workflow-presets", () => TypedResults.Ok(Templates.Presets.Select(p => new { key = p.Key, definition = p.Value })));
        api.MapGet("/workflow-templates", async (CurrentUser user, Templates templates, CancellationToken ct) =>
            TypedResults.Ok(await templates.ListAsync(user, ct)));
        api.MapGet("/workflow-templates/{id}", async (string id, int? version, CurrentUser user, Templates templates, CancellationToken ct) =>
            TypedResults.Ok(await templates.GetAsync(user, id, version, ct)));
        api.MapPost("/workflow-templates", async (CopyTemplateRequest body, CurrentUser user, Templates templates, CancellationToken ct) =>
        {
            var template = await templates.CopyAsync(user, body, ct);
            return TypedResults.Created($"/v1/workflow-templates/{template.Id}", template);
        });
        api.MapPut("/workflow-templates/{id}", async (string id, UpdateTemplateRequest body, CurrentUser user, Templates templates, CancellationToken ct) =>
            TypedResults.Ok(await templates.UpdateAsync(user, id, body, ct)));

        api.MapPost("/work-items", async (CreateWorkItemRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
        {
            var item = await items.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/work-items/{item.Id}", item);
        }).WithIdempotency();
        api.MapGet("/work-items", async (string? store_id, string? state, string? category, string? assignee_id, string? kind, string? customer_id,
                bool? overdue, bool? open, int? limit, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.ListAsync(user, store_id, state, category, assignee_id, kind, customer_id, overdue, open, limit, ct)));
        var item = api.MapGroup("/work-items/{id}");
        item.MapGet("", async (string id, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.GetAsync(user, id, ct)));
        item.MapPatch("", async (string id, UpdateWorkItemRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.UpdateAsync(user, id, body, ct))).WithIdempotency();
        item.MapGet("/timeline", async (string id, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.TimelineAsync(user, id, ct)));
        item.MapPost("/transition", async (string id, TransitionRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.TransitionAsync(user, id, body, ct))).WithIdempotency();
        item.MapPost("/follow", async (string id, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.FollowAsync(user, id, follow: true, ct)));
        item.MapDelete("/follow", async (string id, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.FollowAsync(user, id, follow: false, ct)));
        item.MapPost("/requests", async (string id, CreateRequestRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Created($"/v1/work-items/{id}", await items.CreateRequestAsync(user, id, body, ct))).WithIdempotency();
        item.MapPost("/actions", async (string id, CustomerActionRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.ActAsync(user, id, body, ct))).WithIdempotency();
        item.MapPost("/migrate", async (string id, MigrateRequest body, CurrentUser user, WorkItemActions items, CancellationToken ct) =>
            TypedResults.Ok(await items.MigrateAsync(user, id, body, ct)));

        StockAlerts.Map(app);
        AppointmentsApi.Map(app);
        Notifications.Map(app);
        api.MapGet("/conversations/{id}/work-item-draft", async (string id, string? kind, CurrentUser user, Drafts drafts, CancellationToken ct) =>
            TypedResults.Ok(await drafts.DraftAsync(user, id, kind, ct)));
    }
}
