-- Headless Neovim (0.11) end to end: start `codeward serve` as the buffer's language
-- server, trigger LSP completion in insert mode with Neovim's own vim.lsp.completion,
-- accept the first item with <C-n><C-y>, and write the resulting buffer to $CODEWARD_NVIM_OUT.
local out = assert(os.getenv("CODEWARD_NVIM_OUT"))
local cmd = { os.getenv("CODEWARD_PY"), "-m", "codeward.server.cli", "serve",
              "--model", os.getenv("CODEWARD_MODEL") }
local line = tonumber(os.getenv("CODEWARD_LINE"))
local col = tonumber(os.getenv("CODEWARD_COL"))
local done = false
vim.o.completeopt = "menuone,noselect,popup"
vim.o.showmode = false
vim.opt.shortmess:append("c")

local function finish(status)
  if done then return end
  done = true
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local f = assert(io.open(out, "w"))
  f:write(status .. "\n" .. table.concat(lines, "\n"))
  f:close()
  vim.cmd("qa!")
end

vim.defer_fn(function() finish("timeout") end, 60000)

local function poll(pred, on_ok, tries)
  if pred() then return on_ok() end
  if tries <= 0 then return finish("no-popup") end
  vim.defer_fn(function() poll(pred, on_ok, tries - 1) end, 50)
end

vim.api.nvim_create_autocmd("LspAttach", {
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    vim.lsp.completion.enable(true, client.id, args.buf, { autotrigger = false })
    vim.api.nvim_win_set_cursor(0, { line, col })
    vim.cmd("startinsert!")
    vim.defer_fn(function()
      vim.lsp.completion.get()
      poll(function() return vim.fn.pumvisible() == 1 end, function()
        vim.api.nvim_feedkeys(
          vim.api.nvim_replace_termcodes("<C-n><C-y><Esc>", true, false, true), "t", false)
        vim.defer_fn(function() finish("ok") end, 500)
      end, 600)
    end, 100)
  end,
})

vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args)
    local init = vim.json.decode(os.getenv("CODEWARD_INIT_OPTIONS") or "{}")
    vim.lsp.start({ name = "codeward", cmd = cmd, root_dir = vim.fn.getcwd(),
                    init_options = init }, { bufnr = args.buf })
  end,
})
